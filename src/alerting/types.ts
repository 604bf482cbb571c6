// What `fivestep rules` and `fivestep check` produce from a watch's settings: the generated files, what could not be
// expressed (never dropped silently), and what a person must know (a secret written inline). Types only.

/** A rule (or part of one) that the target cannot express, and why. */
export interface SkippedRule {
  rule: string;
  reason: string;
}

/** A generated file: its text, and what it left out or should warn about. */
export interface GeneratedFile {
  text: string;
  skipped: SkippedRule[];
  warnings: string[];
}

/** Secret inputs given as files (`NAME-file: PATH` in a config): written as references to those files. */
export type SecretFiles = Partial<Record<'pagerduty-routing-key' | 'alert-webhook' | 'smtp-password', string>>;
