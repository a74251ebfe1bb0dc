/**
 * Preload (`--import`) for product processes a fault test starts (gateway/main.ts): the test holds
 * our stdin open; when it ends, the test process is gone and so are we.
 */
process.stdin.on('end', () => process.kill(process.pid, 'SIGKILL'));
process.stdin.resume();
