/**
 * Command-line and environment configuration, one declaration per option.
 *
 * Every subcommand declares its options once (flag, environment variable, type, default, help);
 * `parseOptions` reads flags first, then the environment, then the default, and fails fast with
 * a message that names the flag, the variable and what was wrong. `renderHelp` prints the same
 * declarations, so `--help` can never drift from what is parsed.
 */

/**
 * `pairs` is a repeatable `--flag key=value` that builds an object (`--meta url=http://a --meta
 * zone=b`); its environment variable holds the same pairs separated by commas, or a JSON object.
 * `urls` is one URL or several separated by commas (`--relay ws://r1:8080,ws://r2:8080`), as a list.
 */
export type OptionKind = 'integer' | 'string' | 'url' | 'urls' | 'boolean' | 'pairs';

export interface OptionSpec<K extends OptionKind = OptionKind> {
  /** Long flag without dashes, e.g. `port` for `--port`. */
  flag: string;
  /** Environment variable, e.g. `PORT`. */
  env?: string;
  kind: K;
  help: string;
  default?: ValueOf<K>;
  min?: number;
  max?: number;
  /** For `url` and `urls`: accepted protocols, e.g. ['ws:', 'wss:']. */
  protocols?: string[];
  /** For `string`: the allowed values. */
  choices?: readonly string[];
}

type ValueOf<K extends OptionKind> = K extends 'integer'
  ? number
  : K extends 'boolean'
    ? boolean
    : K extends 'pairs'
      ? Record<string, string | number | boolean | null>
      : K extends 'urls'
        ? string[]
        : string;

export type OptionSpecs = Record<string, OptionSpec>;

export type ParsedOptions<S extends OptionSpecs> = {
  [Name in keyof S]: S[Name]['default'] extends undefined
    ? ValueOf<S[Name]['kind']> | undefined
    : ValueOf<S[Name]['kind']>;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface ParseOutcome<S extends OptionSpecs> {
  options: ParsedOptions<S>;
  /** True when `--help` or `-h` was given; the caller prints `renderHelp` and exits 0. */
  help: boolean;
}

export function parseOptions<S extends OptionSpecs>(
  specs: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): ParseOutcome<S> {
  const byFlag = new Map(Object.entries(specs).map(([name, spec]) => [spec.flag, [name, spec] as const]));
  const raw = new Map<string, { text: string; source: string }>();
  let help = false;

  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index]!;
    if (argument === '--help' || argument === '-h') {
      help = true;
      continue;
    }
    if (!argument.startsWith('--')) throw new ConfigError(`unexpected argument "${argument}" (see --help)`);
    const [flag, inline] = splitOnce(argument.slice(2), '=');
    const entry = byFlag.get(flag) ?? (flag.startsWith('no-') ? byFlag.get(flag.slice(3)) : undefined);
    if (!entry) throw new ConfigError(`unknown option --${flag} (see --help)`);
    const [name, spec] = entry;
    if (spec.kind === 'boolean') {
      raw.set(name, { text: inline ?? String(!flag.startsWith('no-')), source: `--${flag}` });
      continue;
    }
    const text = inline ?? argv[index + 1];
    if (text === undefined || (inline === undefined && text.startsWith('--'))) {
      throw new ConfigError(`option --${flag} needs a value`);
    }
    if (inline === undefined) index += 1;
    const earlier = spec.kind === 'pairs' ? raw.get(name) : undefined;
    raw.set(name, { text: earlier === undefined ? text : `${earlier.text}\n${text}`, source: `--${flag}` });
  }

  const options: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const given = raw.get(name) ?? fromEnv(spec, env);
    options[name] = given === undefined ? spec.default : convert(spec, given.text, given.source);
  }
  return { options: options as ParsedOptions<S>, help };
}

function fromEnv(spec: OptionSpec, env: Readonly<Record<string, string | undefined>>) {
  if (!spec.env) return undefined;
  const text = env[spec.env];
  return text === undefined || text === '' ? undefined : { text, source: spec.env };
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

function convert(spec: OptionSpec, text: string, source: string): unknown {
  const where = spec.env && source !== spec.env ? `${source} (env ${spec.env})` : source;
  switch (spec.kind) {
    case 'integer': {
      if (!/^-?\d+$/.test(text.trim())) throw new ConfigError(`${where} must be an integer, got "${text}"`);
      const value = Number(text);
      if (!Number.isSafeInteger(value)) throw new ConfigError(`${where} is out of range: "${text}"`);
      if (spec.min !== undefined && value < spec.min) throw new ConfigError(`${where} must be at least ${spec.min}, got ${value}`);
      if (spec.max !== undefined && value > spec.max) throw new ConfigError(`${where} must be at most ${spec.max}, got ${value}`);
      return value;
    }
    case 'boolean': {
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw new ConfigError(`${where} must be true or false, got "${text}"`);
    }
    case 'url':
      return checkUrl(spec, text, where);
    case 'urls': {
      const list = text.split(',').map((part) => part.trim());
      if (list.some((part) => part === '')) throw new ConfigError(`${where} takes URLs separated by commas, got "${text}"`);
      if (new Set(list).size !== list.length) throw new ConfigError(`${where} lists a URL twice: "${text}"`);
      return list.map((part) => checkUrl(spec, part, where));
    }
    case 'pairs':
      return pairs(text, source === spec.env, where);
    case 'string': {
      if (spec.choices && !spec.choices.includes(text)) {
        throw new ConfigError(`${where} must be one of ${spec.choices.join(', ')}, got "${text}"`);
      }
      return text;
    }
  }
}

function checkUrl(spec: OptionSpec, text: string, where: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${where} must be a URL, got "${text}"`);
  }
  if (spec.protocols && !spec.protocols.includes(url.protocol)) {
    throw new ConfigError(`${where} must use ${spec.protocols.join(' or ')}, got "${text}"`);
  }
  return text;
}

/** `key=value` lines (flags) or comma-separated pairs or a JSON object (environment), as an object. */
function pairs(text: string, fromEnv: boolean, where: string): Record<string, string | number | boolean | null> {
  if (fromEnv && text.trim().startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new ConfigError(`${where} must be key=value pairs or a JSON object, got "${text}"`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${where} must be a JSON object, got "${text}"`);
    return value as Record<string, string>;
  }
  const result: Record<string, string> = {};
  for (const pair of text.split(fromEnv ? ',' : '\n')) {
    const [key, value] = splitOnce(pair.trim(), '=');
    if (!key || value === undefined) throw new ConfigError(`${where} takes key=value, got "${pair}"`);
    result[key] = value;
  }
  return result;
}

/** `--help` text generated from the same declarations that are parsed. */
export function renderHelp(usage: string, summary: string, specs: OptionSpecs): string {
  const rows = Object.values(specs).map((spec) => {
    const value = spec.kind === 'boolean' ? '' : spec.kind === 'pairs' ? ' <key=value>' : spec.kind === 'urls' ? ' <url[,url]>' : ` <${spec.kind === 'integer' ? 'n' : spec.kind}>`;
    const left = `  --${spec.flag}${value}`;
    const env = spec.env ? ` [env ${spec.env}]` : '';
    const fallback = spec.default === undefined ? '' : ` (default: ${String(spec.default)})`;
    return `${left.padEnd(28)} ${spec.help}${fallback}${env}`;
  });
  return [`Usage: ${usage}`, '', summary, '', 'Options:', ...rows, `${'  -h, --help'.padEnd(28)} show this help`, ''].join('\n');
}
