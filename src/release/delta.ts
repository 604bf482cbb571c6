// Delta staging: the host builds the new release from hard links into its current one plus only the
// files the runner sends, then checks every file against the release's manifest before the rename.
// Pure: the manifest format, the runner's choice of files, and the two remote commands (tested by exact string).
//
// Every file keeps the artifact's modification time (caches key on mtime and size), so a file is a
// hard link only when its content, mode AND time are the release's: an unchanged file with a new time
// (a fresh checkout) is copied on the host and given its time, and costs no bytes on the network.
import { quote } from '../common/shell.js';
import { appendLogCommand, EXIT, spaceCheck, type DeployLogEntry } from './commands.js';
import { layout, releasePath } from './layout.js';

/** One regular file of a release. Directories and symlinks always travel in the tar (they are a few bytes). */
export interface ManifestEntry {
  /** Relative to the release root, `/`-separated, no `./`. */
  path: string;
  /**
   * Permission bits in octal as `find -printf %m` prints them (`644`, `755`), write bits for group and others
   * removed.
   */
  mode: string;
  size: number;
  /** Modification time, whole seconds (`find -printf %Ts`). */
  mtime: number;
  sha256: string;
}

/**
 * Names the manifest cannot carry: it is tab-separated and line-based, and sha256sum escapes a
 * backslash. Such an artifact is staged whole (a warning says which file).
 */
// eslint-disable-next-line no-control-regex -- control characters are what cannot be carried
export const UNSUPPORTED_NAME = /[\0-\x1f\x7f\\]/;

/**
 * `sha256 TAB mode TAB size TAB mtime TAB path`, one file a line, sorted by path (the host's stored
 * copy has the same form; copies stored before mtimes were kept lack the mtime, and only their first
 * and last fields are ever read).
 */
export function manifestText(entries: readonly ManifestEntry[]): string {
  return [...entries]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((e) => `${e.sha256}\t${e.mode}\t${e.size}\t${e.mtime}\t${e.path}\n`)
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
  return {
    usable: true,
    from: from.slice(5).trim(),
    missing: new Set(lines.filter((l) => l.startsWith('missing ')).map((l) => l.slice(8).trim())),
  };
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
    /** Files at the same path with the same content, mode and time: linked in one batch. */
    same: `${base}.same`,
    /** The same but for the time (`mtime TAB path`): copied in one batch, then given their times. */
    retime: `${base}.retime`,
    /**
     * Held content at another path or with another mode: `source TAB source-mode TAB source-mtime TAB mode TAB mtime
     * TAB path`.
     */
    moved: `${base}.moved`,
    from: `${base}.from`,
    delta: `${base}.delta`,
    stored: `${l.manifests}/${releaseId}`,
  };
}

/**
 * The offer, to build from `from` (the host's current release, as preflight read it). Stdin is the
 * release's manifest, gzipped; the host keeps it and indexes `releases/<from>` as it is on disk: only
 * files `find` reaches without following a symlink, so nothing is ever linked from outside the
 * release, whatever it holds; a name with a control character or a backslash is not indexed. Contents
 * come from the stored manifest of `from` (else sha256sum of every file: a release staged before
 * delta existed). Prints `from <release>` and one `missing <sha256>` per content it does not hold,
 * or `none <why>`. Nothing under releases/ changes.
 */
export function deltaOfferCommand(deployPath: string, releaseId: string, from: string): string {
  const l = layout(deployPath);
  const f = deltaFiles(deployPath, releaseId);
  const m = quote(f.manifest);
  const idx = quote(f.index);
  const base = quote(`releases/${from}`);
  const stored = quote(`${l.manifests}/${from}`);
  return [
    'set -e',
    `mkdir -p ${quote(l.incoming)}`,
    `gzip -dc > ${m}`,
    `cd ${quote(deployPath)}`,
    `if [ -z ${quote(from)} ] || [ -L ${base} ] || [ ! -d ${base} ]; then echo ` +
      `${quote(`none no current release to build from`)}; ` +
      `exit 0; fi`,
    // mode TAB mtime TAB path of every regular file reached without following a symlink.
    `(cd ${base} && LC_ALL=C find . \\( -path '*[[:cntrl:]]*' -o -path '*\\\\*' \\) -prune -o -type f ` +
      `-printf '%m\\t%Ts\\t%P\\n') > ${idx}.files`,
    `if [ -f ${stored} ]; then awk -F'\\t' '{ print $1 "\\t" $NF }' ${stored} > ${idx}.sums`,
    `else (cd ${base} && cut -f3 ${idx}.files | tr '\\n' '\\0' | xargs -0 -r sha256sum -- | sed ` +
      `'s|^\\([0-9a-f]*\\)  |\\1\\t|') > ${idx}.sums`,
    'fi',
    // The index: sha256 TAB mode TAB mtime TAB path of every file found (a stale stored sum is caught by the check).
    `awk -F'\\t' 'NR==FNR { sha[$2] = $1; next } ($3 in sha) { print sha[$3] "\\t" $1 "\\t" $2 "\\t" $3 }' ` +
      `${idx}.sums ${idx}.files > ${idx}`,
    `rm -f ${idx}.files ${idx}.sums`,
    `printf '%s\\n' ${quote(from)} > ${quote(f.from)}`,
    `echo ${quote(`from ${from}`)}`,
    // Same path, content, mode and time → the batch link; only the time differs → the batch copy;
    // held elsewhere or with another mode → one by one; else missing.
    `: > ${quote(f.same)}; : > ${quote(f.retime)}; : > ${quote(f.moved)}`,
    `awk -F'\\t' -v same=${quote(f.same)} -v retime=${quote(f.retime)} -v moved=${quote(f.moved)} 'NR==FNR ` +
      `{ if (!($1 in src)) { src[$1] = $4; smode[$1] = $2; smtime[$1] = $3 } at[$4] = $1 "\\t" $2; atime[$4] ` +
      `= $3; next } { if (at[$5] == $1 "\\t" $2 && atime[$5] == $4) print $5 > same; else if (at[$5] == $1 ` +
      `"\\t" $2) print $4 "\\t" $5 > retime; else if ($1 in src) print src[$1] "\\t" smode[$1] "\\t" ` +
      `smtime[$1] "\\t" $2 "\\t" $4 "\\t" $5 > moved; else if (!($1 in told)) { told[$1] = 1; ` +
      `print "missing " $1 } }' ` +
      `${idx} ${m}`,
  ].join('\n');
}

/**
 * Builds releases/<id> from the offer's links and the tar on stdin (the missing files, every
 * directory and symlink), in a `.partial` directory renamed into place once every file matches the
 * manifest (content, mode, time, and no file more or less). A mismatch (a release edited in place)
 * exits EXIT.deltaMismatch and leaves nothing: the runner then sends the whole artifact. Where the
 * filesystem refuses a hard link the file is copied. `needBytes` (the files sent) must fit with room
 * to spare. Records `staged` like unpackCommand.
 */
export function deltaUnpackCommand(
  deployPath: string,
  releaseId: string,
  identity: string,
  needBytes: number,
  staged?: DeployLogEntry,
): string {
  const l = layout(deployPath);
  const f = deltaFiles(deployPath, releaseId);
  const target = quote(releasePath(deployPath, releaseId));
  const partial = quote(`${l.releases}/.${releaseId}.partial`);
  const sum = quote(`${l.checksums}/${releaseId}`);
  const incoming = [f.manifest, f.index, f.same, f.retime, f.moved, f.from, f.delta].map(quote).join(' ');
  const log = staged ? appendLogCommand(deployPath, staged) : '';
  return [
    'set -e',
    `mkdir -p ${quote(l.releases)} ${quote(l.checksums)} ${quote(l.shared)} ${quote(l.manifests)}`,
    `cat > ${quote(f.delta)}`,
    `if [ -L ${target} ]; then echo ` +
      `${quote(`releases/${releaseId} is a symlink: fivestep never writes through one; remove it on the host`)} ` +
      `>&2; exit ${EXIT.refused}; fi`,
    `if [ -e ${target} ]; then if [ "$(cat ${sum} 2>/dev/null)" = ${quote(identity)} ]; then rm -f ${incoming}; ` +
      `${log ? `${log}; ` : ''}exit 0; fi; echo 'release directory already exists with other content: use ` +
      `a new release-id' >&2; exit ${EXIT.exists}; fi`,
    ...spaceCheck(deployPath, String(needBytes)),
    `cleanup() { rm -rf ${partial} ${incoming} ${sum} ${quote(f.stored)}; }`,
    'trap cleanup EXIT',
    `rm -rf ${partial}`,
    `mkdir ${partial}`,
    `tar -xzp --no-same-owner -f ${quote(f.delta)} -C ${partial}`,
    `from=${quote(l.releases)}/"$(cat ${quote(f.from)})"`,
    `tab=$(printf '\\t')`,
    // The batch: `cp -l` links; refused links (another filesystem, protected_hardlinks) are copied instead,
    // replacing (never writing through) whatever the first pass linked, with the source's mode and time (the
    // release's).
    `if [ -s ${quote(f.same)} ]; then (cd "$from" && tr '\\n' '\\0' < ${quote(f.same)} | xargs -0 cp -l ` +
      `--parents -t ${partial} -- 2>/dev/null) || (cd "$from" && tr '\\n' '\\0' < ${quote(f.same)} | xargs ` +
      `-0 cp --remove-destination --preserve=mode,timestamps --parents -t ${partial} --); fi`,
    // Unchanged but for the time: copied in one batch, then each group of files with one time touched at once.
    `if [ -s ${quote(f.retime)} ]; then (cd "$from" && cut -f2 ${quote(f.retime)} | tr '\\n' '\\0' | xargs ` +
      `-0 cp --remove-destination --preserve=mode --parents -t ${partial} --); (cd ${partial} && LC_ALL=C ` +
      `sort -t "$tab" -k1,1n ${quote(f.retime)} | awk -F'\\t' '$1 !~ /^[0-9]+$/ { next } $1 != t { if (cmd) ` +
      `close(cmd); t = $1; cmd = "xargs -d \\"\\\\n\\" touch -h -d @" t " --" } { print $2 | cmd } END { ` +
      `if (cmd) close(cmd) }'); fi`,
    `while IFS="$tab" read -r src smode smtime mode mtime path; do mkdir -p "$(dirname ${partial}/"$path")"; ` +
      `if [ "$smode" = "$mode" ] && [ "$smtime" = "$mtime" ] && ln -- "$from/$src" ${partial}/"$path" ` +
      `2>/dev/null; then :; else cp -- "$from/$src" ${partial}/"$path"; chmod "$mode" ${partial}/"$path"; ` +
      `touch -h -d "@$mtime" ${partial}/"$path"; fi; done < ${quote(f.moved)}`,
    // Every file against the manifest: content, then the exact set of files with their modes and times.
    `if ! (cd ${partial} && awk -F'\\t' '{ print $1 "  " $5 }' ${quote(f.manifest)} | sha256sum --quiet ` +
      `--strict -c - > ${quote(f.index)}.check 2>&1); then echo "delta: files differ from the manifest (a ` +
      `release edited in place?): $(head -c 300 ${quote(f.index)}.check | tr '\\n' ' ')" >&2; rm -f ` +
      `${quote(f.index)}.check; exit ${EXIT.deltaMismatch}; fi`,
    `rm -f ${quote(f.index)}.check`,
    `if [ "$(cd ${partial} && LC_ALL=C find . -type f -printf '%m\\t%Ts\\t%P\\n' | LC_ALL=C sort)" != "$(awk ` +
      `-F'\\t' '{ print $2 "\\t" $4 "\\t" $5 }' ${quote(f.manifest)} | LC_ALL=C sort)" ]; then echo 'delta: ` +
      `the files, their modes or their times differ from the manifest' >&2; exit ${EXIT.deltaMismatch}; fi`,
    `touch ${partial}`,
    `mv ${quote(f.manifest)} ${quote(f.stored)}`,
    `printf '%s\\n' ${quote(identity)} > ${sum}`,
    `mv ${partial} ${target}`,
    'trap - EXIT',
    `rm -f ${incoming}`,
    ...(log ? [log] : []),
  ].join('\n');
}
