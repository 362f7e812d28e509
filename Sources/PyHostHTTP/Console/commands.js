// The current request as a shell command: curl, and the pyhost command-line client.

function shellQuoted(text) {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

// A private function needs an invoker key; the commands read it from $PYHOST_KEY, never holding one.
export function curlCommand(origin, name, request, isPrivate) {
  const key = isPrivate ? ` -H "Authorization: Bearer $PYHOST_KEY"` : "";
  return `curl -s ${shellQuoted(`${origin}/functions/${name}/invoke`)} -H 'Content-Type: application/json'${key} -d ${shellQuoted(request)}`;
}

export function cliCommand(origin, name, request) {
  return `PYHOST_URL=${shellQuoted(origin)} pyhost invoke ${name} ${shellQuoted(request)}`;
}
