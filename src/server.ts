import { ConfigError, loadConfig } from './config.js';
import { startCoordinator } from './runtime.js';

/** Entry point: configuration → database → app → listen. */
async function main(): Promise<void> {
  const config = loadConfig();
  const coordinator = await startCoordinator(config);
  if (coordinator.generatedTokens.registrationToken) {
    console.log(`Generated runner registration token (CI_REGISTRATION_TOKEN): ${coordinator.generatedTokens.registrationToken}`);
  }
  if (coordinator.generatedTokens.adminToken) {
    console.log(`Generated admin token for the user API (CI_ADMIN_TOKEN): ${coordinator.generatedTokens.adminToken}`);
  }
  console.log(`Coordinator listening on ${coordinator.url} (data in ${config.dataDir})`);
  const stop = () => {
    coordinator.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? `configuration error: ${err.message}` : err);
  process.exit(1);
});
