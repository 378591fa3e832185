import { InvalidArgumentError } from 'commander';
import { parseBytes } from '../stack/index.ts';

export function intArg(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

export function bytesArg(value: string): number {
  const bytes = parseBytes(value);
  if (bytes === undefined || bytes < 256 * 2 ** 20) throw new InvalidArgumentError('expected a size of at least 256MiB, such as 512MiB or 4GiB');
  return bytes;
}
