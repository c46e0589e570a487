// The error a call throws, for tests that check what is rejected and with which message.

/** Name and message of the error `fn` throws; fails the test when it throws nothing. */
export function thrown(fn: () => unknown): { name: string; message: string } {
  try {
    fn();
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
  throw new Error('expected an error, none was thrown');
}
