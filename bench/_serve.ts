/**
 * `tagbooru serve` without the CLI's whole command table: the same command object and run(), started in a
 * fraction of the time, for the load test. Usage: node --import tsx bench/_serve.ts [serve options].
 */
import { parse } from '../src/cli/command.ts';
import { serveCommand } from '../src/cli/commands/serve.ts';

const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, cwd: process.cwd(), env: process.env };
process.exitCode = await serveCommand.run(parse(serveCommand, process.argv.slice(2)), io);
