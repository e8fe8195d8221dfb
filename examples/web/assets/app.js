// Fills the status panel from the unikernel's JSON endpoint.
async function refresh() {
  const panel = document.getElementById("status");
  try {
    const response = await fetch("/api/status");
    const status = await response.json();
    document.getElementById("uptime").textContent = (status.uptime_ms / 1000).toFixed(1) + " s";
    document.getElementById("requests").textContent = status.requests;
    document.getElementById("memory").textContent = (status.memory_in_use / 1024).toFixed(0) + " KiB";
    panel.dataset.state = "live";
  } catch (error) {
    panel.dataset.state = "error";
  }
}
refresh();
setInterval(refresh, 2000);
for (const pre of document.querySelectorAll("pre")) pre.textContent = pre.textContent.replaceAll("HOST", location.host);
