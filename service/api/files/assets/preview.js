// The preview page's one script: reads the page's settings from its JSON block (no inline script, so the
// page's Content-Security-Policy can refuse every script but the API's own) and starts Plyr over the
// input video with the job's storyboard on its seek bar. Plyr is the copy the API serves, no CDN.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("preview-config").textContent);
  const video = document.getElementById("player");
  if (!video || !config.video) return;
  video.src = config.video;
  window.player = new Plyr(video, {
    previewThumbnails: { enabled: Boolean(config.vtt), src: config.vtt || "" },
    hideControls: false,
    // By default Plyr fetches its icons and a blank video from its CDN: the API serves the icons, and the
    // blank video (what Plyr loads when it tears down) is the job's own.
    iconUrl: config.icons,
    blankVideo: config.video,
  });
})();
