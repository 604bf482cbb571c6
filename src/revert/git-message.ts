// The words of an automatic revert: commit-message trailers (read and written), the revert commit's
// message, its pull-request branch, title and body. Pure: no git, no I/O.

/** Put on every revert commit we make: the daily limit counts these, and we never revert them. */
export const AUTO_REVERT_TRAILER = 'Auto-Revert: fivestep';

/** Trailers of a commit message (the last paragraph's `Key: value` lines), keys lower-cased. */
export function parseTrailers(message: string): Map<string, string[]> {
  const paragraphs = message
    .replace(/\r\n/g, '\n')
    .trim()
    .split(/\n\s*\n/);
  const trailers = new Map<string, string[]>();
  if (paragraphs.length < 2) return trailers;
  const lines = paragraphs[paragraphs.length - 1].split('\n');
  const parsed = lines.map((l) => /^([A-Za-z0-9][A-Za-z0-9-]*)\s*:\s*(.*)$/.exec(l));
  // git accepts a trailer block only when (nearly) every line is a trailer; continuation lines start with space.
  if (!parsed.every((m, i) => m || /^\s/.test(lines[i]))) return trailers;
  for (const m of parsed) {
    if (!m) continue;
    const key = m[1].toLowerCase();
    trailers.set(key, [...(trailers.get(key) ?? []), m[2].trim()]);
  }
  return trailers;
}

/** A commit message's first line. */
export const subjectOf = (message: string): string => message.split('\n', 1)[0].trim();

export interface RevertMessageInput {
  commits: { sha: string; subject: string }[];
  reason: string;
  runUrl: string;
}

/** The one revert commit's message: names every SHA, the reason and the run; trailers last. */
export function revertMessage(input: RevertMessageInput): string {
  const { commits } = input;
  const newest = commits[commits.length - 1];
  const ellipsis = newest.subject.length > 60 ? '…' : '';
  const range = `${commits[0].sha.slice(0, 7)}..${newest.sha.slice(0, 7)}`;
  const title =
    commits.length === 1
      ? `Revert "${newest.subject.slice(0, 60)}"${ellipsis} (auto-revert)`
      : `Revert ${commits.length} commits ${range} (auto-revert)`;
  const reason = input.reason.trim() || 'the deployment was reverted by fivestep auto-revert';
  const lines = [
    title,
    '',
    'Automatic revert after a failed deployment.',
    '',
    ...[...commits].reverse().map((c) => `This reverts commit ${c.sha} (${c.subject}).`),
    '',
    `Reason: ${reason.replace(/\r?\n/g, ' ').slice(0, 1500)}`,
    `Run: ${input.runUrl}`,
    '',
    AUTO_REVERT_TRAILER,
    ...commits.map((c) => `Reverts: ${c.sha}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The branch of a pull-request revert: stable per commit set, so a second run finds its PR. */
export function revertBranch(shas: readonly string[]): string {
  const last = shas[shas.length - 1].slice(0, 12);
  return shas.length === 1 ? `fivestep/revert-${last}` : `fivestep/revert-${shas[0].slice(0, 7)}-${last}`;
}

/** The revert pull request's title (the revert commit's subject) and body. */
export function revertPullRequestText(input: RevertMessageInput): { title: string; body: string } {
  const shortShas = input.commits.map((c) => c.sha.slice(0, 7)).join(', ');
  const body = [
    `Automatic revert of ${shortShas} after a failed deployment.`,
    '',
    `**Reason:** ${input.reason.trim() || '(none given)'}`,
    `**Run:** ${input.runUrl}`,
    '',
    'The servers were already put back on the previous release; merging this makes the branch match them.',
  ].join('\n');
  return { title: subjectOf(revertMessage(input)), body };
}
