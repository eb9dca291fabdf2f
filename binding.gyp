# node-gyp build of the gptkit native addon (build/Release/gptkit_native.node). One binary for every x86-64 CPU:
# SIMD code paths carry their own target attributes and are picked at run time, so no -march flags here.
{
  "targets": [
    {
      "target_name": "gptkit_native",
      "sources": [
        "native/binding.c",
        "native/cpu.c",
        "native/pool.c",
        "native/gemm.c",
        "native/gemm_kernels.c",
        "native/vecops.c",
        "native/fused.c",
        "native/elementwise.c",
        "native/attention.c",
        "native/bandwidth.c",
        "native/quant.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-O2", "-O3", "-Os", "-fno-exceptions", "-fno-rtti"],
      "cflags_c": ["-O3", "-std=c11", "-fno-math-errno", "-ffp-contract=fast", "-pthread", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-pthread"],
      "libraries": ["-lm"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-O3", "-std=c11", "-fno-math-errno", "-ffp-contract=fast"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "Optimization": 2 }
      }
    }
  ]
}
