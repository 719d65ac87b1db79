import { ConfigError, loadConfig } from './config.js';
import { startCoordinator } from './runtime.js';

/** Entry point: configuration → database → app → listen. */
async function main(): Promise<void> {
  const config = loadConfig();
  const coordinator = await startCoordinator(config);
  const { logger } = coordinator;
  // The one place a token is ever logged: a generated token is printed once, at the first
  // start, because that is the only way an operator learns it. Configured tokens never are.
  if (coordinator.generatedTokens.registrationToken) {
    logger.warn(`Generated runner registration token (CI_REGISTRATION_TOKEN): ${coordinator.generatedTokens.registrationToken}`);
  }
  if (coordinator.generatedTokens.adminToken) {
    logger.warn(`Generated admin token for the user API (CI_ADMIN_TOKEN): ${coordinator.generatedTokens.adminToken}`);
  }
  logger.info(
    { url: coordinator.url, dataDir: config.dataDir, ...(coordinator.metricsUrl ? { metricsUrl: coordinator.metricsUrl } : {}) },
    `Coordinator listening on ${coordinator.url} (data in ${config.dataDir})`,
  );
  const exit = (code: number) => {
    logger.flush();
    process.exit(code);
  };
  // SIGINT (Ctrl-C) stops at once; SIGTERM (what a service manager sends) is a graceful
  // shutdown, bounded by SHUTDOWN_TIMEOUT_SECONDS (a second more for closing the database).
  process.once('SIGINT', () => coordinator.close().then(() => exit(0), () => exit(1)));
  process.once('SIGTERM', () => {
    logger.info(`SIGTERM: shutting down within ${config.shutdownTimeoutMs / 1000} s`);
    setTimeout(() => exit(1), config.shutdownTimeoutMs + 1000).unref();
    coordinator.shutdown().then(() => exit(0), () => exit(1));
  });
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? `configuration error: ${err.message}` : err);
  process.exit(1);
});
