import { logger } from '../../observability/logger';

// The product's in-process log (request lines of the apps the tests build) stays out of the test
// output unless LOG_LEVEL asks for it; processes the tests spawn log as configured.
logger.level = process.env.LOG_LEVEL ?? 'warn';
