import { Counter, Gauge, type Registry } from 'prom-client';

export interface GatewayMetrics {
  /** A command from the API (open, on the command endpoint) or a worker (bus: sync-subscription, update, access-sync). */
  command(kind: string): void;
  /** A message an IQ sent (`invalid` when it did not parse). */
  received(type: string): void;
  /** A message sent to an IQ (welcome, open, update, subscription, error). */
  sent(type: string): void;
}

/** The gateway's Prometheus metrics in `registry`; labels come from closed sets (the protocol's types). */
export function createGatewayMetrics(registry: Registry, connectedIqs: () => number): GatewayMetrics {
  new Gauge({
    name: 'gateway_connected_iqs',
    help: 'IQs authenticated on this gateway instance',
    registers: [registry],
    collect() {
      this.set(connectedIqs());
    },
  });
  const commands = new Counter({
    name: 'gateway_commands_total',
    help: 'Commands this instance received (open on its command endpoint, the rest on its bus channel), by kind',
    labelNames: ['kind'],
    registers: [registry],
  });
  const messages = new Counter({
    name: 'gateway_messages_total',
    help: 'Device protocol messages, by direction (in: from IQs, out: to IQs) and type',
    labelNames: ['direction', 'type'],
    registers: [registry],
  });
  return {
    command: (kind) => commands.inc({ kind }),
    received: (type) => messages.inc({ direction: 'in', type }),
    sent: (type) => messages.inc({ direction: 'out', type }),
  };
}
