// The public surface of metric-watch, used by its own entry and by ssh-rollout's `watch` input.
export { parseWatchSettings, parseRules, type WatchSettings, type Rule, type Verdict, type ParseOptions } from './settings.js';
export { runWatch, matchHosts, hostName, type WatchOptions, type WatchResult, type RuleReport } from './watch.js';
export { failsStep, type Breach } from './rules.js';
export { summaryMarkdown, writeReport, buildReport } from './report.js';
export { parseRolloutWatch, createRolloutWatch, type RolloutWatchOptions } from './rollout-watch.js';
