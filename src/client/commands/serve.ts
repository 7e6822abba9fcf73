import { join } from 'node:path';
import type { Command } from 'commander';
import { stateDir } from '../../config/environment';
import { portOption } from '../options';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'run the local endpoint server (the "local" deployment target) in the foreground: endpoints with blue/green deployments, traffic weights, key auth; POST /endpoints/{name}/score. `modelship dev` runs it for you.',
    )
    .addOption(portOption('--port <port>', 'HTTP port', 5100))
    .option('--state-dir <dir>', 'where endpoints, deployments and traffic are persisted', join(stateDir(), 'serving'))
    .option('--host <address>', 'address to listen on (0.0.0.0 inside a container)', '127.0.0.1')
    .option('--allow-faults', 'enable the fault-injection hooks (tests only)')
    .action(async (options: { port: number; host: string; stateDir: string; allowFaults?: boolean }) => {
      // The server's code (ONNX Runtime, metrics) is for this command only.
      const { EndpointServer } = await import('../../serving/endpoint-server');
      const server = new EndpointServer({ stateDir: options.stateDir, port: options.port, host: options.host, allowFaults: options.allowFaults });
      try {
        await server.start();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          console.error(`modelship serve: port ${options.port} is already in use. Fix: stop what uses it, or pass --port <port>.`);
          process.exit(1);
        }
        throw error;
      }
      console.log(`modelship endpoint server on ${server.url} (state in ${options.stateDir})`);
      const stop = () => void server.stop().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
