// Option parsers shared by CLI commands.
import { InvalidArgumentError, Option } from 'commander';

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new InvalidArgumentError('expected a port number from 1 to 65535.');
  }
  return port;
}

export function portOption(flags: string, description: string, fallback: number): Option {
  return new Option(flags, description).argParser(parsePort).default(fallback);
}
