// What an alert endpoint answered, as kept in a warning (and so in the report and the job summary): read up
// to a cap, secrets redacted (the endpoint may echo the request), one line of bounded length.
import { readCapped } from '../../common/http-body.js';
import { oneLine } from '../../common/text.js';
import { redact } from '../redact.js';

/** At most this much of an answer is read; the rest is not waited for. */
export const ANSWER_READ_BYTES = 64 * 1024;
/** At most this many characters of an answer are kept. */
export const ANSWER_KEEP_CHARS = 200;

/** The answer's text, redacted of `secrets` and cut to ANSWER_KEEP_CHARS. */
export async function answerText(res: Response, secrets: readonly string[]): Promise<string> {
  const read = await readCapped(res, ANSWER_READ_BYTES).catch(() => ({ text: '', truncated: false }));
  let text = read.text;
  // A secret cut in half at the cap would not be recognised: drop what could be the start of one.
  if (read.truncated) text = text.slice(0, Math.max(0, text.length - Math.max(0, ...secrets.map((s) => s.length * 6))));
  return oneLine(redact(text, secrets), ANSWER_KEEP_CHARS);
}
