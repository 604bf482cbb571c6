// The public surface of metric-watch, used by its own entry and by ssh-rollout's `watch` input.
export type { WatchSettings, Rule, Verdict, Breach, WatchResult, RuleReport, Comparison } from './types.js';
export { parseWatchSettings, parseRules, type ParseOptions } from './settings.js';
export { runWatch, matchHosts, hostName, type WatchOptions } from './watch.js';
export { failsStep } from './rules.js';
export { summaryMarkdown, writeReport } from './report.js';
export { buildWatchReport } from './record.js';
export { parseRolloutWatch, createRolloutWatch, type RolloutWatchOptions } from './rollout-watch.js';
