// The runner-backed Logger: @actions/core workflow commands. Every message is made inert first (logText):
// messages quote test names, file names from pull requests and hosts' output.
import * as core from '@actions/core';
import type { Logger } from './logger.js';
import { logText } from './text.js';

export const coreLogger: Logger = {
  debug: (m) => core.debug(logText(m)),
  info: (m) => core.info(logText(m)),
  warning: (m) => core.warning(logText(m)),
  error: (m) => core.error(logText(m)),
  group: (name, fn) => core.group(logText(name), fn),
};
