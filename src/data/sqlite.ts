/** The project's only import of better-sqlite3. */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { TagbooruError, errorMessage } from '../errors.ts';

type DatabaseConstructor = typeof BetterSqlite3;

let constructor: DatabaseConstructor | undefined;

function load(): DatabaseConstructor {
  if (constructor) return constructor;
  try {
    // better-sqlite3 is CommonJS; loading it lazily keeps commands that never touch SQLite free of its native build.
    constructor = createRequire(import.meta.url)('better-sqlite3') as DatabaseConstructor;
    return constructor;
  } catch (e) {
    throw new TagbooruError(
      'E_INTERNAL',
      `better-sqlite3 failed to load (${errorMessage(e).split('\n')[0]}). It compiles from source at install time: ` +
        'run `npm_config_nodedir=/usr npm rebuild better-sqlite3` (Debian ships Node headers in /usr/include/node), ' +
        'and make sure package.json#allowScripts allows "better-sqlite3".',
      { cause: e },
    );
  }
}

export function openSqlite(file: string, options: { readonly?: boolean } = {}): BetterSqlite3.Database {
  const Database = load();
  try {
    return new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  } catch (e) {
    throw new TagbooruError('E_IO', `cannot open SQLite database ${file}: ${errorMessage(e)}`, { cause: e });
  }
}
