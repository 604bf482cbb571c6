#!/usr/bin/env node
// `fivestep` entry: the process around cli/main.ts (argv, streams, signals, the exit status).
import '../common/esm-shim.js';
import { createConnector } from '../ssh/connector.js';
import { runCli } from './main.js';

const signals = ['SIGINT', 'SIGTERM'] as const;

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  connector: (logger) => createConnector({ logger }),
  onSignal: (handler) => {
    for (const s of signals) process.on(s, handler);
    return () => {
      for (const s of signals) process.off(s, handler);
    };
  },
  exit: (code) => process.exit(code),
});
