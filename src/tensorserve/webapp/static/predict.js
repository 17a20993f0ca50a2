// Predict page enhancements: version list per model, drag and drop with preview, and a
// drawing canvas whose digit is centred and scaled to 28x28 the way MNIST digits are.
(function () {
  "use strict";

  var form = document.getElementById("predict-form");
  if (!form) { return; }
  var modelSelect = document.getElementById("model");
  var versionSelect = document.getElementById("version");
  var fileInput = document.getElementById("image");
  var dropzone = document.getElementById("dropzone");
  var preview = document.getElementById("preview");
  var chosenFile = document.getElementById("chosen-file");
  var drawPanel = document.getElementById("draw-panel");
  var canvas = document.getElementById("canvas");
  var drawError = document.getElementById("draw-error");

  // --- Versions: show only those of the chosen model, labelled by number alone.
  function filterVersions() {
    var model = modelSelect.value;
    Array.prototype.forEach.call(versionSelect.options, function (option) {
      var owner = option.getAttribute("data-model");
      if (owner === null) { return; }
      var mine = owner === model;
      option.hidden = !mine;
      option.disabled = !mine;
      option.textContent = option.value;
      if (!mine && option.selected) { versionSelect.value = ""; }
    });
  }
  modelSelect.addEventListener("change", filterVersions);
  filterVersions();

  // --- Upload: preview, and drag and drop onto the drop zone.
  function showChosenFile() {
    var file = fileInput.files && fileInput.files[0];
    chosenFile.textContent = file ? "Chosen: " + file.name : "";
    if (file && file.type.indexOf("image/") === 0) {
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
    } else {
      preview.hidden = true;
      preview.removeAttribute("src");
    }
  }
  fileInput.addEventListener("change", showChosenFile);
  ["dragenter", "dragover"].forEach(function (type) {
    dropzone.addEventListener(type, function (event) {
      event.preventDefault();
      dropzone.classList.add("is-dragover");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    dropzone.addEventListener(type, function () { dropzone.classList.remove("is-dragover"); });
  });
  dropzone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      fileInput.files = event.dataTransfer.files;
      showChosenFile();
    }
  });

  // --- Drawing: white ink on a black 280x280 canvas.
  drawPanel.hidden = false;
  var pen = canvas.getContext("2d");
  var drawing = false;
  var hasInk = false;

  function clearCanvas() {
    pen.fillStyle = "#000";
    pen.fillRect(0, 0, canvas.width, canvas.height);
    hasInk = false;
  }
  function pointOf(event) {
    var box = canvas.getBoundingClientRect();
    return {
      x: (event.clientX - box.left) * canvas.width / box.width,
      y: (event.clientY - box.top) * canvas.height / box.height
    };
  }
  clearCanvas();
  pen.lineCap = "round";
  pen.lineJoin = "round";
  pen.lineWidth = 20;
  pen.strokeStyle = "#fff";

  canvas.addEventListener("pointerdown", function (event) {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    var p = pointOf(event);
    pen.beginPath();
    pen.moveTo(p.x, p.y);
    pen.lineTo(p.x + 0.01, p.y);
    pen.stroke();
    hasInk = true;
    drawError.hidden = true;
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!drawing) { return; }
    var p = pointOf(event);
    pen.lineTo(p.x, p.y);
    pen.stroke();
  });
  ["pointerup", "pointercancel"].forEach(function (type) {
    canvas.addEventListener(type, function () { drawing = false; });
  });
  document.getElementById("clear-canvas").addEventListener("click", clearCanvas);

  // MNIST digits fit a 20x20 box whose centre of mass sits at the centre of 28x28.
  function toMnistCanvas() {
    var size = canvas.width;
    var pixels = pen.getImageData(0, 0, size, canvas.height).data;
    var minX = size, minY = canvas.height, maxX = -1, maxY = -1;
    for (var y = 0; y < canvas.height; y++) {
      for (var x = 0; x < size; x++) {
        if (pixels[(y * size + x) * 4] > 32) {
          if (x < minX) { minX = x; } if (x > maxX) { maxX = x; }
          if (y < minY) { minY = y; } if (y > maxY) { maxY = y; }
        }
      }
    }
    if (maxX < 0) { return null; }
    var width = maxX - minX + 1, height = maxY - minY + 1;
    var scale = 20 / Math.max(width, height);
    var boxW = Math.max(1, Math.round(width * scale)), boxH = Math.max(1, Math.round(height * scale));
    var box = document.createElement("canvas");
    box.width = boxW; box.height = boxH;
    var boxPen = box.getContext("2d");
    boxPen.imageSmoothingEnabled = true;
    boxPen.imageSmoothingQuality = "high";
    boxPen.drawImage(canvas, minX, minY, width, height, 0, 0, boxW, boxH);
    var boxPixels = boxPen.getImageData(0, 0, boxW, boxH).data;
    var mass = 0, sumX = 0, sumY = 0;
    for (var by = 0; by < boxH; by++) {
      for (var bx = 0; bx < boxW; bx++) {
        var v = boxPixels[(by * boxW + bx) * 4];
        mass += v; sumX += v * (bx + 0.5); sumY += v * (by + 0.5);
      }
    }
    var centreX = mass ? sumX / mass : boxW / 2, centreY = mass ? sumY / mass : boxH / 2;
    var left = Math.min(28 - boxW, Math.max(0, Math.round(14 - centreX)));
    var top = Math.min(28 - boxH, Math.max(0, Math.round(14 - centreY)));
    var mnist = document.createElement("canvas");
    mnist.width = 28; mnist.height = 28;
    var mnistPen = mnist.getContext("2d");
    mnistPen.fillStyle = "#000";
    mnistPen.fillRect(0, 0, 28, 28);
    mnistPen.drawImage(box, left, top);
    return mnist;
  }

  function markBusy(button) {
    button.setAttribute("data-label", button.textContent);
    button.setAttribute("aria-busy", "true");
    button.textContent = "Predicting…";
  }
  // Coming back with the Back button restores the page as it was left: undo the busy state.
  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(form.querySelectorAll("[aria-busy]"), function (button) {
      button.textContent = button.getAttribute("data-label");
      button.removeAttribute("aria-busy");
    });
  });

  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    if (!submitter || submitter.value !== "drawing") {
      if (submitter) { markBusy(submitter); }
      return;
    }
    event.preventDefault();
    var mnist = hasInk ? toMnistCanvas() : null;
    if (!mnist) {
      drawError.hidden = false;
      return;
    }
    mnist.toBlob(function (blob) {
      var transfer = new DataTransfer();
      transfer.items.add(new File([blob], "drawing.png", { type: "image/png" }));
      fileInput.files = transfer.files;
      markBusy(submitter);
      form.submit();
    }, "image/png");
  });
})();
