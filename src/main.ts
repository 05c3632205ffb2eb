import { migrateCommand } from './commands/migrate';
import { secretsCommand } from './commands/secrets';
import { serveCommand } from './commands/serve';
import { validateDeploymentCommand } from './commands/validate-deployment';
import { logger } from './logger';

const USAGE = `usage: main <command>
  start                 all-in-one: Postgres + Temporal dev server (unless configured), migrations, worker and API
  worker                the Temporal worker (needs DATABASE_URL, TEMPORAL_ADDRESS)
  api                   the HTTP API (needs DATABASE_URL, TEMPORAL_ADDRESS)
  migrate [up|down] [n] run migrations against DATABASE_URL (then seal integration secrets in clear, with SECRET_KEYS)
  secrets <status|rotate|decrypt>  the integrations' secrets at rest (SECRET_KEYS)
  validate-deployment   check tables, migration level, FK types, Temporal, search attributes; exit 1 naming what is missing`;

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'start':
      return serveCommand('all');
    case 'worker':
      return serveCommand('worker');
    case 'api':
      return serveCommand('api');
    case 'migrate':
      return migrateCommand(args);
    case 'secrets':
      return secretsCommand(args);
    case 'validate-deployment':
      return validateDeploymentCommand();
    default:
      process.stderr.write(USAGE + '\n');
      return command ? 2 : 0;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    logger.fatal({ err: error }, 'fatal');
    process.exit(1);
  },
);
