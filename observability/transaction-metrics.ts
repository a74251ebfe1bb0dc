import { Counter, type Registry } from 'prom-client';
import { transactionsRunAgain } from '../db/client';

/**
 * `db_transactions_run_again_total` by SQLSTATE: the transactions PostgreSQL ended to let others on
 * (a deadlock's victim, a serialization failure) that this process ran again (db/client.ts). Each was
 * answered, but any at all means two changes take their locks in different orders: PostgreSQL's log
 * names the statements.
 */
export function registerTransactionMetrics(registry: Registry): void {
  new Counter({
    name: 'db_transactions_run_again_total',
    help: 'Transactions PostgreSQL ended to let others on (40P01 deadlock, 40001 serialization) and this process ran again',
    labelNames: ['sqlstate'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [sqlstate, times] of transactionsRunAgain()) this.inc({ sqlstate }, times);
    },
  });
}
