// One way to turn anything thrown into the text a log line or a report shows.
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
