/** The project's only import of better-sqlite3. */
import type BetterSqlite3 from 'better-sqlite3';
import { TagbooruError, errorMessage } from '../errors.ts';
import { requireNative } from '../native.ts';

type DatabaseConstructor = typeof BetterSqlite3;

let constructor: DatabaseConstructor | undefined;

function load(): DatabaseConstructor {
  // better-sqlite3 is CommonJS; loading it lazily keeps commands that never touch SQLite free of its native build.
  return (constructor ??= requireNative<DatabaseConstructor>('better-sqlite3'));
}

export function openSqlite(file: string, options: { readonly?: boolean } = {}): BetterSqlite3.Database {
  const Database = load();
  try {
    return new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  } catch (e) {
    throw new TagbooruError('E_IO', `cannot open SQLite database ${file}: ${errorMessage(e)}`, { cause: e });
  }
}
