// Loader for the native addon (placeholder until the addon lands).
import type { Backend } from '../backend.js';

export function loadNativeBackend(): { backend: Backend | null; error: string } {
  return { backend: null, error: 'not built' };
}
