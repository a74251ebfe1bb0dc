/**
 * What activities ask of the device gateway. The fleet work implements it over the gateway's own
 * command channel; until then the no-op stands in, and IQs learn their state at their next hello.
 */
export interface GatewayClient {
  /** Tell the site's connected IQs their subscribed flag changed. */
  subscriptionChanged(siteId: string): Promise<void>;
}

export const noopGatewayClient: GatewayClient = {
  async subscriptionChanged() {},
};
