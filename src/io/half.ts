// 16-bit float decoding (IEEE binary16 "F16" and bfloat16 "BF16") into Float32Array, exact for every bit pattern.
// Decoding only: gptkit computes and saves in float32, so there is no rounding encoder here.

let f16Table: Float32Array | undefined;

/** Decode one binary16 bit pattern: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits. */
export function f16BitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals: frac * 2^-14 / 2^10
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Decode one bfloat16 bit pattern: the top half of a float32. */
export function bf16BitsToFloat(b: number): number {
  const u = new Uint32Array([(b & 0xffff) << 16]);
  return new Float32Array(u.buffer)[0]!;
}

// All 65536 F16 values fit in a 256 KiB table; a lookup beats branching bit surgery in the load loop.
function table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToFloat(h);
  }
  return f16Table;
}

/** dst[dstOffset + i] = f16(src[i]) for all i. */
export function decodeF16(src: Uint16Array, dst: Float32Array, dstOffset: number): void {
  const t = table();
  const n = src.length;
  for (let i = 0; i < n; i++) dst[dstOffset + i] = t[src[i]!]!;
}

/** dst[dstOffset + i] = bf16(src[i]); written as raw bits so NaN payloads and -0 survive exactly. */
export function decodeBF16(src: Uint16Array, dst: Float32Array, dstOffset: number): void {
  const out = new Uint32Array(dst.buffer, dst.byteOffset + dstOffset * 4, src.length);
  const n = src.length;
  for (let i = 0; i < n; i++) out[i] = src[i]! << 16;
}
