// Command-line option parsers shared by the benchmark's entry points.
import { InvalidArgumentError } from 'commander';

/** Parses an integer option within [min, max], or fails with commander's usage error. */
export function intOption(min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}
