export * from './access';
export * from './accounts';
export * from './deletions';
export * from './delivery';
export * from './fleet';
export * from './sites';
export * from './subscriptions';
