// The command line parsed: the commands that work, their options, and usage errors that name what is wrong.
import { parseArgs, helpText, COMMANDS } from '../../src/cli/args.js';

describe('the command line', () => {
  test('--help lists exactly the commands that work', () => {
    expect(Object.keys(COMMANDS)).toEqual(['rollout', 'revert', 'watch', 'status', 'unlock', 'check', 'rules']);
    const help = helpText();
    for (const c of Object.keys(COMMANDS)) expect(help).toMatch(new RegExp(`^  ${c} `, 'm'));
    expect(helpText('rules')).toMatch(/^ {2}--format FORMAT {6}prometheus \(alerting rules\), promtool-tests/m);
    expect(helpText('rules')).toMatch(/^ {2}--check FILE {9}exit 1 when FILE differs/m);
  });

  test.each([
    [['status', '--config', 'a.yml', '--set', 'port=2222', '--json'], { command: 'status', configs: ['a.yml'] }],
    [['revert', '--to=v1', '--mark-bad'], { command: 'revert' }],
    [['rules', '--format', 'prometheus', '--check=a.rules.yml'], { command: 'rules' }],
    [['check', '--config', 'watch.yml'], { command: 'check', configs: ['watch.yml'] }],
  ])('%j parses', (argv, want) => {
    const p = parseArgs(argv);
    expect(p.kind).toBe('run');
    if (p.kind === 'run') expect(p.args).toMatchObject(want);
  });

  test.each([
    [['deploy'], "unknown command 'deploy'"],
    [['status', '--force'], "unknown option '--force' for 'status'"],
    [['revert', '--to'], '--to needs a value'],
    [['rollout', '--set', 'novalue'], "--set needs NAME=VALUE, got 'novalue'"],
    [['unlock', '--force=yes'], '--force takes no value'],
    [['rules', '--format'], '--format needs a value'],
    [['check', '--once'], "unknown option '--once' for 'check'"],
  ])('%j is a usage error', (argv, message) => {
    expect(parseArgs(argv)).toMatchObject({ kind: 'usage', message });
  });
});
