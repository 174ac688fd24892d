// Argv-aware matching of SSH exec commands (src/policy/command.ts): an evasion corpus that must be
// caught by the DESIGN sketch's rule `no-rm-root` (rm\s+-[a-z]*r[a-z]*f?\s+/(\s|$)), benign
// look-alikes that must pass, and the analysis itself (argv, wrappers, nesting, limits).
import { describe, expect, it } from 'vitest';
import { analyzeCommand, canonicalForm, commandMatches, shellQuote } from '../../../src/policy/command.js';
import { GuardrailPolicy } from '../../../src/policy/guardrails.js';
import { SHELL_LIMITS } from '../../../src/policy/shell/limits.js';
import { makeConfig, session } from './helpers.js';

const policy = new GuardrailPolicy(makeConfig());
const decide = (command: string) => policy.decide(session('web-prod'), { kind: 'exec', command });

/** each must be blocked by no-rm-root */
const evasions: string[] = [
  // flags: case, order, split, long forms, end of options, path spelling
  'rm -rf /',
  'rm -Rf /',
  'rm -fr /',
  'rm -r -f /',
  'rm -f -r /',
  'rm -r /',
  'rm / -rf',
  'rm --recursive --force /',
  'rm -r --force /',
  'rm -rf --no-preserve-root /',
  'rm --no-preserve-root -rf /',
  'rm -rf -- /',
  'rm -rf //',
  'rm -rf /tmp/../',
  'rm -rf /./',
  'rm -rf / 2>/dev/null',
  'rm -rf / >/dev/null 2>&1 &',
  'rm\t-rf\t/',
  // quoting and escapes
  '"rm" -rf /',
  "'rm' '-rf' '/'",
  'r""m -rf /',
  "'r'm -rf /",
  '\\rm -rf /',
  'r\\m -rf /',
  'rm -r""f /',
  'rm -\\rf /',
  'rm -rf "/"',
  "$'\\x72\\x6d' -rf /",
  "$'\\162\\155' -rf /",
  '/bin/rm -rf /',
  '/usr/bin/rm -rf /',
  // expansions
  'rm${IFS}-rf${IFS}/',
  'rm$IFS$9-rf$IFS/',
  '{rm,-rf,/}',
  '$(echo rm) -rf /',
  '`echo rm` -rf /',
  "$(printf '%s' rm) -rf /",
  'X=/; rm -rf $X',
  'X=/ && rm -rf "$X"',
  'a="-rf /"; rm $a',
  'c=rm; $c -rf /',
  'X=/tmp; false && X=/; rm -rf $X',
  'for d in /tmp /; do rm -rf "$d"; done',
  'r${Z}m -rf /',
  'a=r; b=m; $a$b -rf /',
  'rm -rf "$(echo /)"',
  "$(printf '\\x72\\x6d') -rf /",
  "$(echo -e '\\x72m') -rf /",
  "printf 'rm -rf /\\n' | sh",
  '${X:-rm} -rf /',
  'X=$(echo /); rm -rf $X',
  // chains and grouping
  'echo hi; rm -rf /',
  'echo hi && rm -rf /',
  'false || rm -rf /',
  'ls | rm -rf /',
  'ls\nrm -rf /',
  'ls\r\nrm -rf /',
  'cd /tmp & rm -rf /',
  '(rm -rf /)',
  '{ rm -rf /; }',
  '! rm -rf /',
  'if true; then rm -rf /; fi',
  'while :; do rm -rf /; done',
  'case x in *) rm -rf /;; esac',
  'f() { rm -rf /; }; f',
  'echo ok # comment\nrm -rf /',
  // substitutions
  'echo $(rm -rf /)',
  'echo "$(rm -rf /)"',
  'echo "`rm -rf /`"',
  'x=$(rm -rf /)',
  'cat <(rm -rf /)',
  'echo > $(rm -rf /)',
  'cat <<EOF\n$(rm -rf /)\nEOF',
  // wrappers
  'sudo rm -rf /',
  'sudo -u root -E rm -rf /',
  'sudo -iu root rm -rf /',
  'sudo --user=root -- rm -rf /',
  'sudo LANG=C rm -rf /',
  'doas -u root rm -rf /',
  'env rm -rf /',
  'env -i PATH=/bin rm -rf /',
  'env X=1 rm -r -f /',
  'env -u HOME -- rm -rf /',
  "env -S 'rm -rf /'",
  'nohup rm -rf / &',
  'nice -n 19 rm -rf /',
  'nice -5 rm -rf /',
  'timeout 10 rm -rf /',
  'timeout -s KILL -k 5 10 rm -rf /',
  'exec rm -rf /',
  'exec -a foo rm -rf /',
  'command rm -rf /',
  'builtin command rm -rf /',
  'time rm -rf /',
  'time -p rm -rf /',
  'setsid rm -rf /',
  'stdbuf -oL rm -rf /',
  'ionice -c3 rm -rf /',
  'xargs rm -rf /',
  'xargs -0 -n 1 rm -rf /',
  'busybox rm -rf /',
  'chroot / rm -rf /',
  'sudo env -i nice -n 5 timeout 10 nohup rm -rf /',
  'find / -maxdepth 0 -exec rm -rf / \\;',
  // shells
  "bash -c 'rm  -rf /'",
  'sh -c "rm -rf /"',
  "bash -lc 'rm -rf /'",
  "bash -e -o pipefail -c 'rm -rf /'",
  "/usr/bin/env bash -c 'rm -rf /'",
  "dash -c 'rm -rf /'",
  "zsh -c 'rm -rf /'",
  "sudo sh -c 'cd / && rm -rf /'",
  "sudo -u root bash -c 'rm -r -f /'",
  'sh -c \'sh -c "rm -rf /"\'',
  "sh -c '$0 -rf /' rm",
  "sh -c '$1 -rf /' sh rm",
  "sh -c 'sh -c \"$1\"' sh 'rm -rf /'",
  "bash -c 'eval \"$@\"' bash rm -rf /",
  "X=/ sh -c 'rm -rf $X'",
  'eval "rm -rf /"',
  'eval rm -rf /',
  "su -c 'rm -rf /' root",
  "su - root -c 'rm -rf /'",
  "runuser -u root -- sh -c 'rm -rf /'",
  "echo 'rm -rf /' | sh",
  "echo 'rm -rf /' | sudo bash",
  "printf 'rm -rf /' | bash",
  "bash <<< 'rm -rf /'",
  "bash <<'EOF'\nrm -rf /\nEOF",
  'sudo bash <<EOF\nrm -rf /\nEOF',
  "sh -s <<-'EOF'\n\trm -rf /\n\tEOF",
  // unterminated: the part before the syntax error still runs
  "rm -r -f /; echo '",
  'rm -r -f / ; echo "unterminated',
];

/** each must be allowed */
const benign: string[] = [
  'echo "rm -rf /"',
  "echo 'rm -rf /'",
  'echo "rm -rf /" > notes.txt',
  "printf '%s\\n' 'rm -r -f /'",
  'grep -r "x" /var/log',
  'grep -rf patterns /etc',
  'rm -rf /tmp/build',
  'rm -r -f /tmp/build',
  'rm -rf ./build /var/tmp/x',
  'rm -rf -- /tmp/x',
  'rm -rf build/',
  'rmdir -p /tmp/a/b',
  'sudo -u www rm -rf /var/www/cache',
  'git commit -m "never rm -r -f /"',
  "bash -c 'echo \"rm -rf /\"'",
  "X='rm -rf /'; echo \"$X\"",
  'ls -la /',
  'cp -r /etc /backup',
  'chmod -R g+w /srv/app',
  'find / -name "*.log" -mtime +7',
  'docker rm -f web',
  'tar -czf /tmp/etc.tgz /etc',
  'uptime',
  'systemctl restart nginx',
  // runs on another machine: the gateway only guards this one
  "ssh backup-host 'rm -rf /'",
  // a program's own argument language is not shell
  "python3 -c 'print(\"rm -rf /\")'",
];

describe('command evasions are caught by no-rm-root', () => {
  it.each(evasions.map((t) => [JSON.stringify(t), t] as const))('%s', (_n, text) => {
    expect(decide(text)).toMatchObject({ action: 'block', rule: 'no-rm-root' });
  });
});

describe('benign look-alikes are allowed', () => {
  it.each(benign.map((t) => [JSON.stringify(t), t] as const))('%s', (_n, text) => {
    expect(decide(text)).toEqual({ action: 'allow' });
  });
});

describe('the raw text is matched too', () => {
  it('keeps what a raw-text rule matched before (pipes, comments, here-document bodies)', () => {
    const re = /curl\s+\S+\s*\|\s*(ba)?sh/i;
    expect(commandMatches(re, 'curl http://x | sh')).toBe(true);
    // the comment and the here-document body are not commands, but the raw text holds the match
    expect(decide('echo hi # rm -rf /').action).toBe('block');
    expect(decide("cat <<'EOF'\nrm -rf /\nEOF").action).toBe('block');
  });
});

describe('analyzeCommand', () => {
  const cmds = (text: string) => analyzeCommand(text).commands.map((c) => ({ argv: c.argv, command: c.command, wrappers: c.wrappers, depth: c.depth, via: c.via }));

  it('splits simple commands and removes redirections', () => {
    expect(cmds('a 1 && b "2 3" || c;d|e&f\ng 2>&1 >/dev/null <in').map((c) => c.argv)).toEqual([['a', '1'], ['b', '2 3'], ['c'], ['d'], ['e'], ['f'], ['g']]);
    expect(cmds('a 1').map((c) => [c.wrappers, c.depth, c.via])).toEqual([[[], 0, undefined]]);
  });

  it('sees through wrappers and records them', () => {
    expect(cmds('sudo -u root env -i A=1 nice -n 5 nohup ls -l')).toEqual([
      { argv: ['sudo', '-u', 'root', 'env', '-i', 'A=1', 'nice', '-n', '5', 'nohup', 'ls', '-l'], command: ['ls', '-l'], wrappers: ['sudo', 'env', 'nice', 'nohup'], depth: 0, via: undefined },
    ]);
  });

  it('parses sh -c scripts, substitutions and eval one level down', () => {
    expect(cmds("bash -c 'a; b $(c)'")).toEqual([
      { argv: ['bash', '-c', 'a; b $(c)'], command: ['bash', '-c', 'a; b $(c)'], wrappers: [], depth: 0, via: undefined },
      { argv: ['a'], command: ['a'], wrappers: [], depth: 1, via: 'bash -c' },
      { argv: ['c'], command: ['c'], wrappers: [], depth: 2, via: 'substitution' },
      { argv: ['b'], command: ['b'], wrappers: [], depth: 1, via: 'bash -c' },
      { argv: ['b', '$(c)'], command: ['b', '$(c)'], wrappers: [], depth: 1, via: 'bash -c' },
    ]);
    expect(cmds('eval "x y"').map((c) => [c.argv.join(' '), c.depth, c.via])).toEqual([
      ['eval x y', 0, undefined],
      ['x y', 1, 'eval'],
    ]);
  });

  it('leaves ssh host "…" as it is', () => {
    expect(cmds("ssh h 'rm -rf /'")).toEqual([{ argv: ['ssh', 'h', 'rm -rf /'], command: ['ssh', 'h', 'rm -rf /'], wrappers: [], depth: 0, via: undefined }]);
  });

  it('builds the canonical form: flags first and combined, operands, then long options', () => {
    expect(canonicalForm(['/bin/rm', '-r', '-f', '--', '//'])).toBe('rm -rf /');
    expect(canonicalForm(['rm', '/', '--no-preserve-root', '-f', '-r'])).toBe('rm -fr / --no-preserve-root');
    expect(canonicalForm(['rm', '--recursive', '--force', '/var/tmp/'])).toBe('rm -rf /var/tmp');
    expect(canonicalForm(['rm', '-r', '-r', 'a b'])).toBe("rm -r 'a b'");
    expect(canonicalForm(['find', '/', '-name', 'x'])).toBe('find / -name x');
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('')).toBe("''");
  });

  it('reports unparseable text and still lists what it could read', () => {
    const a = analyzeCommand("ls; echo 'oops");
    expect(a.unparseable).toBe('unterminated single quote');
    expect(a.incomplete).toBe(false);
    expect(a.commands.map((c) => c.argv)).toEqual([['ls'], ['echo', 'oops']]);
    expect(analyzeCommand('echo $(ls').unparseable).toContain('unterminated "$("');
    expect(analyzeCommand('a )').unparseable).toBe('unexpected ")"');
  });

  it('reports commands it cannot know', () => {
    expect(analyzeCommand('curl -s https://x | sh').dynamic).toEqual(['sh reads commands from the output of curl']);
    expect(analyzeCommand('bash').dynamic).toEqual(['bash reads commands from stdin']);
    expect(analyzeCommand('$(cat cmd) -x').dynamic).toEqual(['the command name comes from an expansion: $(cat cmd)']);
    expect(analyzeCommand('/bin/r? -rf /').dynamic).toEqual(['the command name is a pathname pattern: /bin/r?']);
    expect(analyzeCommand('ls -l; sh script.sh').dynamic).toEqual([]);
  });

  it('is part of explain() for exec commands', () => {
    const e = policy.explain(session('web-prod'), { kind: 'exec', command: "sudo sh -c 'rm -r -f /'" });
    expect(e.decision).toMatchObject({ action: 'block', rule: 'no-rm-root' });
    expect(e.matched).toEqual(['no-rm-root']);
    expect(e.analysis).toBeUndefined();
    expect(e.command?.commands.map((c) => c.command)).toEqual([['sh', '-c', 'rm -r -f /'], ['rm', '-r', '-f', '/']]);
    expect(e.command?.forms).toContain('rm -rf /');
  });

  it('caches by text', () => {
    expect(analyzeCommand('uptime')).toBe(analyzeCommand('uptime'));
  });
});

describe('limits: bounded, never throwing, incomplete → fallback', () => {
  it('stops at the depth cap and says so', () => {
    let text = 'rm -r -f /';
    for (let i = 0; i < SHELL_LIMITS.depth + 2; i++) text = `sh -c ${shellQuote(text)}`;
    const a = analyzeCommand(text);
    expect(a.incomplete).toBe(true);
    expect(a.unparseable).toContain('nested deeper than');
    // the connection's fallback (default block) applies because a command rule is in force
    expect(decide(text)).toMatchObject({ action: 'block', rule: 'fallback', message: expect.stringContaining('command cannot be fully analysed') });
  });

  it('stops at the length and count caps', () => {
    const long = `${' '.repeat(SHELL_LIMITS.length)}; rm -r -f /`;
    expect(analyzeCommand(long).incomplete).toBe(true);
    expect(decide(long)).toMatchObject({ action: 'block', rule: 'fallback' });
    const many = `${'true;'.repeat(SHELL_LIMITS.commands + 1)} rm -r -f /`;
    expect(analyzeCommand(many).incomplete).toBe(true);
    expect(decide(many).action).toBe('block');
  });

  it('applies the fallback only where a command rule is in force, and as configured', () => {
    const deep = `${'$('.repeat(SHELL_LIMITS.depth + 2)}ls`;
    const cfg = (fallback: string, guardrails: string[]) =>
      new GuardrailPolicy(
        makeConfig({
          connections: [{ name: 'web-prod', protocol: 'ssh', target: { host: 'h' }, guardrails, fallback, review: { approvers: ['sre-leads'] } }],
        }),
      );
    expect(cfg('block', []).decide(session('web-prod'), { kind: 'exec', command: deep })).toEqual({ action: 'allow' });
    expect(cfg('allow', ['no-rm-root']).decide(session('web-prod'), { kind: 'exec', command: deep })).toEqual({ action: 'allow' });
    expect(cfg('review', ['no-rm-root']).decide(session('web-prod'), { kind: 'exec', command: deep })).toMatchObject({ action: 'review', rule: 'fallback', approvers: ['sre-leads'] });
  });

  it('keeps pathological inputs fast', () => {
    const inputs = [
      '$('.repeat(100_000),
      '`'.repeat(100_000),
      '${'.repeat(50_000),
      '"$('.repeat(50_000),
      "'".repeat(100_001),
      '{a,b}'.repeat(40),
      `${Array.from({ length: 30 }, (_, i) => `X${i + 1}=$X${i}$X${i}`).join('; ')}; echo $X30`,
      `${'for a in 1 2 3 4 5 6 7 8 9; do '.repeat(4)}echo $a$a$a$a${'; done'.repeat(4)}`,
      '<<E\n'.repeat(20_000),
      "$'".concat('\\x'.repeat(50_000)),
      'a=('.repeat(20_000),
    ];
    for (const text of inputs) {
      const t = performance.now();
      const a = analyzeCommand(text);
      expect(performance.now() - t, text.slice(0, 20)).toBeLessThan(2000);
      expect(a.unparseable ?? '').not.toContain('internal error');
    }
  });

  it('never throws on random input', () => {
    const alphabet = ['a', 'rm', ' ', '-rf', '/', "'", '"', '\\', '$', '(', ')', '`', '{', '}', ',', ';', '|', '&', '<', '>', '\n', '#', '$(', '${', 'IFS', 'sh -c ', 'sudo ', 'env ', '<<', 'EOF', '=', 'X', ':-', '..', '1', '*', 'for x in a b; do ', 'done', 'case ', ' in ', 'esac', ';;', 'eval ', "$'", '\\x72', 'find / -exec ', '\\;', '<(', '$((', '))'];
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 5000; i++) {
      let s = '';
      const n = Math.floor(rnd() * 30);
      for (let k = 0; k < n; k++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      const a = analyzeCommand(s);
      expect(a.unparseable ?? '', JSON.stringify(s)).not.toContain('internal error');
      expect(() => decide(s)).not.toThrow();
    }
  });
});
