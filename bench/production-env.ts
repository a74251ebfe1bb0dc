/**
 * Imported first by a bench that measures the product as deployed: the Dockerfile runs it with
 * NODE_ENV=production, which picks React's production build for the emails (the development build
 * checks every element it renders, and a receipt cost several times the CPU). Set before React loads;
 * a NODE_ENV given on the command line wins.
 */
process.env.NODE_ENV ??= 'production';
