// Delta staging: the host builds the new release from hard links into its current one plus only the
// files the runner sends, then checks every file against the release's manifest before the rename.
// Pure: the manifest format, the runner's choice of files, and the two remote commands (tested by exact string).
import { quote } from '../common/shell.js';
import { appendLogCommand, EXIT, type DeployLogEntry } from './commands.js';
import { layout, releasePath } from './layout.js';

/** One regular file of a release. Directories and symlinks always travel in the tar (they are a few bytes). */
export interface ManifestEntry {
  /** Relative to the release root, `/`-separated, no `./`. */
  path: string;
  /** Permission bits in octal as `find -printf %m` prints them (`644`, `4755`). */
  mode: string;
  size: number;
  sha256: string;
}

/**
 * Names the manifest cannot carry: it is tab-separated and line-based, and sha256sum escapes a
 * backslash. Such an artifact is staged whole (a warning says which file).
 */
// eslint-disable-next-line no-control-regex -- control characters are what cannot be carried
export const UNSUPPORTED_NAME = /[\0-\x1f\x7f\\]/;

/** `sha256 TAB mode TAB size TAB path`, one file a line, sorted by path (the host's stored copy has the same form). */
export function manifestText(entries: readonly ManifestEntry[]): string {
  return [...entries]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((e) => `${e.sha256}\t${e.mode}\t${e.size}\t${e.path}\n`)
    .join('');
}

/** What a host answered to the offer: no usable release to build from, or which contents it lacks. */
export type DeltaOffer = { usable: false; reason: string } | { usable: true; from: string; missing: Set<string> };

export function parseOffer(stdout: string): DeltaOffer {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  const none = lines.find((l) => l.startsWith('none '));
  if (none) return { usable: false, reason: none.slice(5).trim() };
  const from = lines.find((l) => l.startsWith('from '));
  if (!from) return { usable: false, reason: `unexpected answer: ${lines.slice(0, 2).join(' | ') || '(nothing)'}` };
  return { usable: true, from: from.slice(5).trim(), missing: new Set(lines.filter((l) => l.startsWith('missing ')).map((l) => l.slice(8).trim())) };
}

/** The files the runner sends: every file whose content the host does not hold. */
export function filesToSend(entries: readonly ManifestEntry[], missing: ReadonlySet<string>): ManifestEntry[] {
  return entries.filter((e) => missing.has(e.sha256));
}

function deltaFiles(deployPath: string, releaseId: string) {
  const l = layout(deployPath);
  const base = `${l.incoming}/${releaseId}`;
  return {
    manifest: `${base}.manifest`,
    index: `${base}.index`,
    /** Files at the same path with the same mode and content: linked in one batch. */
    same: `${base}.same`,
    /** Held content at another path or with another mode: `source TAB source-mode TAB mode TAB path`. */
    moved: `${base}.moved`,
    from: `${base}.from`,
    delta: `${base}.delta`,
    stored: `${l.manifests}/${releaseId}`,
  };
}

/**
 * The offer. Stdin is the release's manifest, gzipped; the host keeps it, indexes the content of its current
 * release (its stored manifest, else sha256sum of every file: a release staged before delta existed)
 * and prints `from <release>` and one `missing <sha256>` per content it does not hold, or
 * `none <why>` when there is nothing to build from. Nothing under releases/ changes.
 */
export function deltaOfferCommand(deployPath: string, releaseId: string): string {
  const l = layout(deployPath);
  const f = deltaFiles(deployPath, releaseId);
  const m = quote(f.manifest);
  const idx = quote(f.index);
  return [
    'set -e',
    `mkdir -p ${quote(l.incoming)}`,
    `gzip -dc > ${m}`,
    `cd ${quote(deployPath)}`,
    `cur=$(readlink current 2>/dev/null || true); cur=\${cur#releases/}`,
    `if [ -z "$cur" ] || [ ! -d "releases/$cur" ]; then echo 'none no current release to build from'; exit 0; fi`,
    // The index: sha256 TAB mode TAB path of every regular file of the current release.
    `if [ -f ${quote(l.manifests)}/"$cur" ]; then cut -f1,2,4 ${quote(l.manifests)}/"$cur" > ${idx}`,
    `else (cd "releases/$cur" && LC_ALL=C find . -type f -printf '%m\\t%P\\n' > ${idx}.modes && LC_ALL=C find . -type f -print0 | xargs -0 -r sha256sum -- | grep -v '^\\\\' | sed 's|^\\([0-9a-f]*\\)  \\./|\\1\\t|' > ${idx}.sums) && awk -F'\\t' 'NR==FNR { mode[$2] = $1; next } ($2 in mode) { print $1 "\\t" mode[$2] "\\t" $2 }' ${idx}.modes ${idx}.sums > ${idx}; rm -f ${idx}.modes ${idx}.sums`,
    'fi',
    `printf '%s\\n' "$cur" > ${quote(f.from)}`,
    `echo "from $cur"`,
    // Same path, mode and content → the batch link; held elsewhere or with another mode → one by one; else missing.
    `: > ${quote(f.same)}; : > ${quote(f.moved)}`,
    `awk -F'\\t' -v same=${quote(f.same)} -v moved=${quote(f.moved)} 'NR==FNR { if (!($1 in src)) { src[$1] = $3; smode[$1] = $2 } exact[$1 "\\t" $2 "\\t" $3] = 1; next } { if (($1 "\\t" $2 "\\t" $4) in exact) print $4 > same; else if ($1 in src) print src[$1] "\\t" smode[$1] "\\t" $2 "\\t" $4 > moved; else if (!($1 in told)) { told[$1] = 1; print "missing " $1 } }' ${idx} ${m}`,
  ].join('\n');
}

/**
 * Builds releases/<id> from the offer's links and the tar on stdin (the missing files, every
 * directory and symlink), in a `.partial` directory renamed into place once every file matches the
 * manifest (content, mode, and no file more or less). A mismatch (a release edited in place) exits
 * EXIT.deltaMismatch and leaves nothing: the runner then sends the whole artifact. Where the
 * filesystem refuses a hard link the file is copied. Records `staged` like unpackCommand.
 */
export function deltaUnpackCommand(deployPath: string, releaseId: string, sha256: string, staged?: DeployLogEntry): string {
  const l = layout(deployPath);
  const f = deltaFiles(deployPath, releaseId);
  const target = quote(releasePath(deployPath, releaseId));
  const partial = quote(`${l.releases}/.${releaseId}.partial`);
  const sum = quote(`${l.checksums}/${releaseId}`);
  const incoming = [f.manifest, f.index, f.same, f.moved, f.from, f.delta].map(quote).join(' ');
  const log = staged ? appendLogCommand(deployPath, staged) : '';
  return [
    'set -e',
    `mkdir -p ${quote(l.releases)} ${quote(l.checksums)} ${quote(l.shared)} ${quote(l.manifests)}`,
    `cat > ${quote(f.delta)}`,
    `if [ -e ${target} ]; then if [ "$(cat ${sum} 2>/dev/null)" = ${quote(sha256)} ]; then rm -f ${incoming}; ${log ? `${log}; ` : ''}exit 0; fi; echo 'release directory already exists with other content: use a new release-id' >&2; exit ${EXIT.exists}; fi`,
    `cleanup() { rm -rf ${partial} ${incoming} ${sum} ${quote(f.stored)}; }`,
    'trap cleanup EXIT',
    `rm -rf ${partial}`,
    `mkdir ${partial}`,
    `tar -xzpf ${quote(f.delta)} -C ${partial}`,
    `from=${quote(l.releases)}/"$(cat ${quote(f.from)})"`,
    // The batch: `cp -l` links; refused links (another filesystem, protected_hardlinks) are copied instead,
    // replacing (never writing through) whatever the first pass linked.
    `if [ -s ${quote(f.same)} ]; then (cd "$from" && tr '\\n' '\\0' < ${quote(f.same)} | xargs -0 cp -l --parents -t ${partial} -- 2>/dev/null) || (cd "$from" && tr '\\n' '\\0' < ${quote(f.same)} | xargs -0 cp --remove-destination --preserve=mode --parents -t ${partial} --); fi`,
    `tab=$(printf '\\t')`,
    `while IFS="$tab" read -r src smode mode path; do mkdir -p "$(dirname ${partial}/"$path")"; if [ "$smode" = "$mode" ] && ln -- "$from/$src" ${partial}/"$path" 2>/dev/null; then :; else cp -- "$from/$src" ${partial}/"$path"; chmod "$mode" ${partial}/"$path"; fi; done < ${quote(f.moved)}`,
    // Every file against the manifest: content, then the exact set of files with their modes.
    `if ! (cd ${partial} && awk -F'\\t' '{ print $1 "  " $4 }' ${quote(f.manifest)} | sha256sum --quiet --strict -c - > ${quote(f.index)}.check 2>&1); then echo "delta: files differ from the manifest (a release edited in place?): $(head -c 300 ${quote(f.index)}.check | tr '\\n' ' ')" >&2; rm -f ${quote(f.index)}.check; exit ${EXIT.deltaMismatch}; fi`,
    `rm -f ${quote(f.index)}.check`,
    `if [ "$(cd ${partial} && LC_ALL=C find . -type f -printf '%m\\t%P\\n' | LC_ALL=C sort)" != "$(awk -F'\\t' '{ print $2 "\\t" $4 }' ${quote(f.manifest)} | LC_ALL=C sort)" ]; then echo 'delta: the files or their modes differ from the manifest' >&2; exit ${EXIT.deltaMismatch}; fi`,
    `touch ${partial}`,
    `mv ${quote(f.manifest)} ${quote(f.stored)}`,
    `printf '%s\\n' ${quote(sha256)} > ${sum}`,
    `mv ${partial} ${target}`,
    'trap - EXIT',
    `rm -f ${incoming}`,
    ...(log ? [log] : []),
  ].join('\n');
}
