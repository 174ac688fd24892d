// Caps that keep the shell analysis bounded whatever the input. A cap that is hit marks the analysis
// incomplete (the policy then applies the connection's fallback when a `command` rule is in force).
export const SHELL_LIMITS = Object.freeze({
  /** characters of one command line analysed (an SSH channel request carries at most ~256 KiB) */
  length: 256 * 1024,
  /** nesting of $( ), ` `, <( ), sh -c '…', eval … */
  depth: 8,
  /** simple commands in one analysis, all levels together */
  commands: 2048,
  /** argv variants of one simple command (several possible values of variables) */
  variants: 64,
  /** fields one word may expand to (brace expansion) */
  fields: 256,
  /** characters one expanded word may reach */
  wordLength: 256 * 1024,
  /** characters produced by all expansions and nested scripts of one analysis */
  work: 4_000_000,
  /** wrappers (sudo, env, nice, …) seen through in one command */
  wrappers: 16,
});
