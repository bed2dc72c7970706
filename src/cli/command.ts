/** A command is an options table plus `run()`; only main.ts touches process state and exit codes. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TagbooruError, invalidOption } from '../errors.ts';
import type { OptionReader } from '../infer/selection-options.ts';
import { parseNumber, parseTagValues } from '../option-values.ts';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  readonly description: string;
  readonly placeholder?: string;
  readonly default?: string | boolean;
}

export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stdin: NodeJS.ReadableStream;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

export interface Command<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  readonly name: string;
  readonly usage: string;
  readonly options: O;
  readonly details?: string;
  /** Returns the exit status. */
  run(args: ParsedArgs<O>, io: Io): Promise<number>;
}

export type ParsedArgs<O extends Record<string, OptionSpec>> = {
  readonly values: { [K in keyof O]?: O[K]['multiple'] extends true ? string[] : O[K]['type'] extends 'boolean' ? boolean : string };
  readonly positionals: string[];
};

/** A row of the command table: what the overview shows, and how to load the command itself. */
export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  load(): Promise<Command>;
}

export function defineCommand<O extends Record<string, OptionSpec>>(c: Command<O>): Command<O> {
  return c;
}

export function parse<O extends Record<string, OptionSpec>>(command: Command<O>, argv: string[]): ParsedArgs<O> {
  // parseArgs rejects keys that are present but undefined
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [k, o] of Object.entries(command.options)) {
    options[k] = { type: o.type, ...(o.short && { short: o.short }), ...(o.multiple && { multiple: true }), ...(o.default !== undefined && { default: o.default }) };
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as ParsedArgs<O>['values'], positionals };
  } catch (e) {
    const message = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    // main.ts prefixes `tagbooru <command>: ` to every error, so the message does not repeat the name
    throw new TagbooruError('E_USAGE', `${message}. See \`tagbooru ${command.name} --help\`.`);
  }
}

export function helpText(c: Command, summary: string): string {
  const rows = Object.entries(c.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` <${o.placeholder ?? 'value'}>` : ''}`;
    return `  ${flag.padEnd(34)} ${o.description}${o.default !== undefined && o.default !== false ? ` (default: ${String(o.default)})` : ''}`;
  });
  return [`Usage: tagbooru ${c.usage}`, '', summary, '', 'Options:', ...rows, '  -h, --help                         show this help', c.details ? `\n${c.details}` : ''].join('\n');
}

/** Parse a number flag with its range in the error. */
export function numberOption(name: string, raw: string | undefined, min: number, max: number, integer = false): number | undefined {
  return raw === undefined ? undefined : parseNumber(`--${name}`, raw, min, max, integer);
}

export function choiceOption<T extends string>(name: string, raw: string | undefined, choices: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!(choices as readonly string[]).includes(raw)) throw invalidOption(`--${name}`, `one of ${choices.join(', ')}`, raw);
  return raw as T;
}

/** `a,b` and repeated flags both give lists. */
export function listOption(raw: string[] | undefined): string[] | undefined {
  if (!raw) return undefined;
  return raw.flatMap((r) => r.split(',')).map((s) => s.trim()).filter(Boolean);
}

/** `tag=0.6` flags, repeated or comma separated. */
export function tagValuesOption(name: string, raw: string[] | undefined, min: number, max: number): Record<string, number> | undefined {
  const list = listOption(raw);
  return list && parseTagValues(`--${name}`, list, min, max);
}


/** Parsed flags as an OptionReader, so options shared with the HTTP API (selection) are read by one function. */
export function flagReader(values: Readonly<Record<string, unknown>>): OptionReader {
  const strings = (name: string) => values[name] as string[] | undefined;
  return {
    label: (name) => `--${name}`,
    number: (name, min, max, integer) => numberOption(name, values[name] as string | undefined, min, max, integer),
    boolean: (name) => values[name] as boolean | undefined,
    list: (name) => listOption(strings(name)),
    pairs: (name, min, max) => tagValuesOption(name, strings(name), min, max),
  };
}
