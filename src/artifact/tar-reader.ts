// Reads a .tar or .tar.gz artifact's member list on the runner without unpacking it: ustar, GNU
// (long names and links) and pax (path, linkpath, size, mtime) headers, each file's content hashed as
// it streams by. One pass, memory bounded by one header plus the pending names: a hostile archive costs
// time linear in its size and never creates a file. Truncated or corrupt archives are an InputError.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { InputError } from '../common/inputs.js';
import { normaliseMemberPath, type Member, type MemberKind } from './members.js';

const BLOCK = 512;

/** Type flags as POSIX and GNU tar write them. */
const KINDS: Record<string, MemberKind> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char-device',
  '4': 'block-device',
  '5': 'dir',
  '6': 'fifo',
};

/** A pax extended header's records (`len key=value\n`). */
export function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(data.toString('latin1', at, space));
    if (!Number.isInteger(len) || len <= 0 || at + len > data.length) throw new Error('malformed pax header');
    const record = data.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}

/** An octal field, or GNU's base-256 form (high bit set) for large sizes and times. */
export function numberField(field: Buffer): number {
  if (field.length > 0 && (field[0] & 0x80) !== 0) {
    let n = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i];
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`malformed number field '${text}'`);
  return parseInt(text, 8);
}

function stringField(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const nul = field.indexOf(0);
  return field.toString('utf8', 0, nul < 0 ? length : nul);
}

function checksumOk(block: Buffer): boolean {
  const stored = numberField(block.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum === stored;
}

interface Pending {
  path?: string;
  link?: string;
  size?: number;
  mtime?: number;
}

/**
 * The parser as a push machine: feed() chunks in order, end() when the input ends. Members come out
 * with normalised paths; a member whose name leaves the release keeps its raw name and kind
 * 'unknown' with `raw` saying why, so the checks refuse it by name.
 */
export class TarParser {
  readonly members: Member[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  /** Bytes of the current entry's data still to come, and its padding. */
  private dataLeft = 0;
  private padLeft = 0;
  private entry?: { member?: Member; meta?: string; chunks: Buffer[]; hash?: Hash };
  private pending: Pending = {};
  private ended = false;
  private zeroBlocks = 0;

  feed(chunk: Buffer): void {
    if (this.ended) return;
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      if (this.dataLeft > 0) {
        if (this.buffer.length === 0) return;
        const take = Math.min(this.dataLeft, this.buffer.length);
        this.data(this.buffer.subarray(0, take));
        this.buffer = this.buffer.subarray(take);
        this.dataLeft -= take;
        if (this.dataLeft > 0) return;
        this.finishEntry();
      }
      if (this.padLeft > 0) {
        const take = Math.min(this.padLeft, this.buffer.length);
        this.buffer = this.buffer.subarray(take);
        this.padLeft -= take;
        if (this.padLeft > 0) return;
      }
      if (this.buffer.length < BLOCK) return;
      const block = this.buffer.subarray(0, BLOCK);
      this.buffer = this.buffer.subarray(BLOCK);
      if (block.every((b) => b === 0)) {
        // Two zero blocks end the archive; what follows (a record's padding) is not read.
        if (++this.zeroBlocks >= 2) {
          this.ended = true;
          return;
        }
        continue;
      }
      this.zeroBlocks = 0;
      this.header(block);
    }
  }

  /** The input ended: an archive cut off inside a member (or before any) is an error. */
  end(): Member[] {
    if (this.dataLeft > 0 || this.entry) throw new Error('the archive ends inside a member (a truncated file?)');
    if (!this.ended && this.members.length === 0 && this.zeroBlocks === 0)
      throw new Error('it is empty or not a tar archive');
    return this.members;
  }

  private header(block: Buffer): void {
    if (!checksumOk(block))
      throw new Error(
        this.members.length === 0
          ? 'it is not a tar archive (header checksum mismatch)'
          : 'a header is corrupt (checksum mismatch)',
      );
    const flag = String.fromCharCode(block[156]);
    const size = this.pending.size ?? numberField(block.subarray(124, 136));
    // POSIX ustar keeps a name prefix at 345; GNU's format ('ustar  ') keeps other fields there.
    const prefix =
      block.toString('latin1', 257, 263) === 'ustar\0' && block[345] !== 0 ? stringField(block, 345, 155) : '';
    const name = this.pending.path ?? (prefix ? `${prefix}/${stringField(block, 0, 100)}` : stringField(block, 0, 100));
    const link = this.pending.link ?? stringField(block, 157, 100);
    const mtime = this.pending.mtime ?? numberField(block.subarray(136, 148));
    const mode = numberField(block.subarray(100, 108)) & 0o7777;
    this.dataLeft = size;
    this.padLeft = (BLOCK - (size % BLOCK)) % BLOCK;
    if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
      this.entry = { meta: flag, chunks: [] };
      if (size > 1 << 20)
        throw new Error(
          `a ${flag === 'x' || flag === 'g' ? 'pax' : 'long-name'} header of ${size} bytes is not credible`,
        );
      if (size === 0) this.finishEntry();
      return;
    }
    this.pending = {};
    const kind = KINDS[flag];
    const path = normaliseMemberPath(name);
    const member: Member = {
      path: path ?? name,
      kind: path === null ? 'unknown' : (kind ?? 'unknown'),
      mode,
      size: kind === 'file' ? size : 0,
      mtime: Math.floor(mtime),
    };
    if (path === null) member.raw = 'its name leaves the release: absolute or with ..';
    else if (!kind) member.raw = `tar type flag '${flag === '\0' ? '\\0' : flag}'`;
    if (kind === 'symlink') member.link = link;
    if (kind === 'hardlink') member.link = normaliseMemberPath(link) ?? link;
    this.entry = { member, chunks: [], hash: kind === 'file' ? createHash('sha256') : undefined };
    // Data of anything but a regular file (a hard link's is empty) is skipped, not kept.
    if (size === 0) this.finishEntry();
  }

  private data(chunk: Buffer): void {
    const e = this.entry!;
    if (e.meta) e.chunks.push(Buffer.from(chunk));
    else e.hash?.update(chunk);
  }

  private finishEntry(): void {
    const e = this.entry!;
    this.entry = undefined;
    if (e.meta) {
      const data = Buffer.concat(e.chunks);
      if (e.meta === 'L') this.pending.path = data.toString('utf8').replace(/\0.*$/s, '');
      else if (e.meta === 'K') this.pending.link = data.toString('utf8').replace(/\0.*$/s, '');
      else if (e.meta === 'x') {
        const pax = parsePax(data);
        if (pax.path !== undefined) this.pending.path = pax.path;
        if (pax.linkpath !== undefined) this.pending.link = pax.linkpath;
        if (pax.size !== undefined) this.pending.size = Number(pax.size);
        if (pax.mtime !== undefined) this.pending.mtime = Number(pax.mtime);
      }
      return;
    }
    const m = e.member!;
    if (e.hash) m.sha256 = e.hash.digest('hex');
    this.members.push(m);
  }
}

/** Resolves hard links to their target's content, so a hard link is a file of the release like any other. */
function resolveHardLinks(members: Member[]): Member[] {
  const files = new Map<string, Member>();
  for (const m of members) {
    if (m.kind === 'file') files.set(m.path, m);
    else if (m.kind === 'hardlink') {
      const target = files.get(m.link ?? '');
      // One inode: the link has its target's content, mode and time, whatever its own header says.
      if (target) {
        m.sha256 = target.sha256;
        m.size = target.size;
        m.mode = target.mode;
        m.mtime = target.mtime;
      }
    }
  }
  return members;
}

/**
 * The members of the archive at `file` (gzip-compressed when `gzip`), content hashed. `input` and
 * `what` name the input in errors: a truncated or corrupt archive is an InputError, never a crash.
 */
export async function readTarMembers(input: string, file: string, gzip: boolean): Promise<Member[]> {
  const parser = new TarParser();
  try {
    const source = createReadStream(file);
    const stream = gzip ? source.pipe(createGunzip()) : source;
    source.on('error', (err) => stream.destroy(err));
    for await (const chunk of stream) parser.feed(chunk as Buffer);
    return resolveHardLinks(parser.end());
  } catch (err) {
    throw new InputError(input, `'${file}' cannot be read as a ${gzip ? '.tar.gz' : '.tar'}: ${readError(err, gzip)}`);
  }
}

function readError(err: unknown, gzip: boolean): string {
  const e = err as { code?: string; message?: string };
  if (e.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(String(e.message)))
    return 'the gzip stream ends early (a truncated file?)';
  if (gzip && (e.code === 'Z_DATA_ERROR' || /incorrect header check|invalid/i.test(String(e.message))))
    return 'it is not gzip-compressed data, or it is corrupt';
  return String(e.message ?? err);
}
