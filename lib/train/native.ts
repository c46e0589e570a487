// The training step's float kernels (native/kernels/ftrain), as lib/core/kernels types them.
export * from '../core/kernels/train';
