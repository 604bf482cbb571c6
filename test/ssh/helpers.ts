// Shared by the SSH engine's tests.

/** Resolves to the rejection of p (fails the test if p resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}
