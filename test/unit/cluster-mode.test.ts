import { describe, expect, it } from 'vitest';
import { banner, clusterMode } from '../../scripts/launcher';

describe('start:cluster mode', () => {
  it('is development with demo data unless the operator sets KS_MODE=production', () => {
    expect(clusterMode({})).toEqual({ mode: 'development', demo: true });
    expect(clusterMode({ KS_MODE: '' })).toEqual({ mode: 'development', demo: true });
    expect(clusterMode({ KS_MODE: 'development' })).toEqual({ mode: 'development', demo: true });
    expect(clusterMode({ KS_MODE: 'production' })).toEqual({ mode: 'production', demo: false });
    expect(clusterMode({ KS_MODE: 'prod' })).toEqual({ mode: 'prod', demo: false });
  });

  it('prints neither demo accounts nor the mailbox in production', () => {
    const text = banner({
      title: 'KS Cloud is running as a cluster',
      started: Date.now(),
      apiPorts: [3000, 3001],
      rows: [],
      gatewayPorts: [40000, 40001],
      demo: undefined,
    });
    expect(text).not.toMatch(/demo-password|Demo accounts|\/dev\/mailbox/);
    expect(text).toContain('production');
  });
});
