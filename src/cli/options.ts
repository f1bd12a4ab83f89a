// Options several subcommands share, parsed the same way everywhere: --os / --arch take the
// original tool's spellings in any case (printed back canonical), --capability repeats
// (`--capability docker --capability gpu`, or `docker,gpu`) instead of being variadic, so an
// option before the command never swallows it (`submit --capability docker "uname -n"`).
import { InvalidArgumentError, Option } from 'commander';
import { ARCH_ACCEPTED, normaliseArch, normaliseOs, OS_ACCEPTED } from '../cluster/placement.js';

export const osOption = () =>
  new Option('--os <os>', `required OS: ${OS_ACCEPTED}`).argParser((v: string) => {
    const os = normaliseOs(v);
    if (!os) throw new InvalidArgumentError(`expected ${OS_ACCEPTED}`);
    return os;
  });

export const archOption = () =>
  new Option('--arch <arch>', `required architecture: ${ARCH_ACCEPTED}`).argParser((v: string) => {
    const arch = normaliseArch(v);
    if (!arch) throw new InvalidArgumentError(`expected ${ARCH_ACCEPTED}`);
    return arch;
  });

export const capabilityOption = () =>
  new Option('--capability <cap>', 'required capability (repeat it, or give a comma-separated list)').argParser((v: string, previous: string[] | undefined) => [
    ...(previous ?? []),
    ...v
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean),
  ]);
