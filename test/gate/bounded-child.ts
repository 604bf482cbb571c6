// Run by bounded-work.test.ts as a child process with a small heap (`--max-old-space-size`), so that an
// input that would exhaust the memory shows as a crash (exit 134), not as a slow test: reads a hostile input
// the way the gate does and prints, as one JSON line, what came of it and the process's peak memory.
//   zip <file>      restoreRun(resultFromZip(bytes)), as mode publish reads the artifact it downloaded
//   reports <dir>   one attempt of runTests reading <dir>/reports/*.xml, as mode run reads its reports
import { readFileSync } from 'node:fs';
import { MemoryLogger } from '../../src/common/logger.js';
import { runTests } from '../../src/gate/run.js';
import { restoreRun, resultFromZip } from '../../src/gate/saved.js';

const [what, path] = process.argv.slice(2);
let result: object;
if (what === 'zip') {
  try {
    const { run } = restoreRun(resultFromZip(readFileSync(path)));
    result = { tests: run.final.report?.tests ?? 0 };
  } catch (err) {
    result = { error: (err as Error).message.slice(0, 300) };
  }
} else if (what === 'reports') {
  const logger = new MemoryLogger();
  // The reports were written before the attempt started: touching them makes them this attempt's.
  const run = await runTests({
    command: 'touch reports/*.xml',
    retries: 0,
    cwd: path,
    junit: ['reports/*.xml'],
    logger,
  });
  const report = run.final.report;
  result = {
    tests: report?.tests ?? 0,
    failures: report?.failures ?? 0,
    messages: report?.cases.map((c) => c.message?.length ?? 0),
    warnings: run.final.warnings ?? [],
  };
} else {
  throw new Error(`usage: bounded-child.ts zip <file> | reports <dir>`);
}
console.log(JSON.stringify({ ...result, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
