// A courier job type whose work finishes later: a request that waits for someone's approval.
// The function only hands the attempt over — to an inbox a person (or another system) works
// from — and returns at once; whoever finishes the work reports to courier with the attempt's
// task token, in the Courier-Task-Token header:
//
//   POST <task.reportUrl>   {"progress": 30} | {"heartbeat": true} | {"result": …}
//                           | {"error": {"kind": "transient" | "permanent", "reason": "…"}}
//
// courier keeps the job RUNNING meanwhile, with no function running, until the result, an
// error, or a missed heartbeat (the attempt is then retried with a new token).
// No dependencies: Node's own fetch.

export const handler = async (event) => {
  const { jobId, attempt, payload, task } = event;
  if (!task) {
    // Declared inline by mistake: fail for good rather than pretend the work is done.
    throw new Error("courier:permanent: this function completes later; declare completion external");
  }
  const inbox = process.env.TASK_INBOX_URL;
  const handed = await fetch(inbox, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jobId, attempt, request: payload, token: task.token, reportUrl: task.reportUrl }),
  });
  if (!handed.ok) {
    // Transient: courier retries the attempt on its schedule.
    throw new Error(`the inbox answered ${handed.status}`);
  }
  return { handedTo: "inbox", attempt };
};
