// pcomp doctor: what this installation can do.
import { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('doctor')
    .description('Show versions, build flags, CPU features, compiled backends, GPU and thread count')
    .option('--json', 'print one JSON object', false)
    .action(async (opts: { json: boolean }) => {
      const { runDoctor } = await import('../runners/doctor.js');
      await runDoctor(opts);
    });
}
