// Types of fixtures.js (plain CommonJS shared by test/ and bench/).
export function readFloat32(file: string): Float32Array;
export function mnistDigits(dir: string, opts?: { size?: number; channels?: number; normalize?: boolean; split?: 'test' | 'train'; limit?: number }):
  { x: Float32Array; labels: Uint8Array; n: number; per: number };
