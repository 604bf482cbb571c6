// The runner-backed Logger: @actions/core workflow commands.
import * as core from '@actions/core';
import type { Logger } from './logger.js';

export const coreLogger: Logger = {
  debug: (m) => core.debug(m),
  info: (m) => core.info(m),
  warning: (m) => core.warning(m),
  error: (m) => core.error(m),
  group: (name, fn) => core.group(name, fn),
};
