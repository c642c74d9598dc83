/** Imported first by the CLI: a one-line error on a Node older than alignloop supports, before anything else loads. */
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(
    `alignloop: Node ${process.versions.node} is too old: alignloop needs Node 22 or newer (24 recommended); ` +
      'install a current Node, or run `. scripts/ensure-node.sh` in the alignloop checkout to put Node 24 first on PATH\n',
  );
  process.exit(2);
}
export {};
