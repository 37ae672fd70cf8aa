// Voice notes: the microphone recorded in the browser and encoded here as the WAV the server
// wants (16 kHz, mono, 16-bit PCM), then uploaded as the request body. Nothing is sent
// anywhere else; the server transcribes it locally.

const RATE = 16000;
const MAX_SECONDS = 150; // 16 kHz * 2 bytes * 150 s = 4.8 MB, under the server's 5 MB limit

/** Start recording; resolves to a recorder whose stop() resolves to a WAV Blob. */
export async function startRecording() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
  });
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const processor = context.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  let length = 0;
  processor.onaudioprocess = (event) => {
    if (length >= MAX_SECONDS * context.sampleRate) return;
    const data = new Float32Array(event.inputBuffer.getChannelData(0));
    chunks.push(data);
    length += data.length;
  };
  source.connect(processor);
  processor.connect(context.destination);
  return {
    async stop() {
      processor.disconnect();
      source.disconnect();
      for (const track of stream.getTracks()) track.stop();
      const rate = context.sampleRate;
      await context.close();
      const samples = new Float32Array(length);
      let offset = 0;
      for (const chunk of chunks) {
        samples.set(chunk, offset);
        offset += chunk.length;
      }
      return encodeWav(downsample(samples, rate, RATE), RATE);
    },
  };
}

/** Average the input over each output sample's span (a box low-pass, then decimation). */
export function downsample(samples, from, to) {
  if (from === to) return samples;
  const ratio = from / to;
  const out = new Float32Array(Math.floor(samples.length / ratio));
  for (let i = 0; i < out.length; i++) {
    const start = Math.floor(i * ratio);
    const end = Math.min(samples.length, Math.max(start + 1, Math.floor((i + 1) * ratio)));
    let sum = 0;
    for (let j = start; j < end; j++) sum += samples[j];
    out[i] = sum / (end - start);
  }
  return out;
}

export function encodeWav(samples, rate) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (at, value) => {
    for (let i = 0; i < value.length; i++) view.setUint8(at + i, value.charCodeAt(i));
  };
  text(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([buffer], { type: "audio/wav" });
}

/** POST the WAV; resolves to the created note, throws Error with the server's message. */
export async function uploadVoiceNote(customerId, wav) {
  const response = await fetch(`/api/customers/${encodeURIComponent(customerId)}/voice-notes`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "audio/wav", Accept: "application/json" },
    body: wav,
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = (data && data.error && data.error.message) || `upload failed (${response.status})`;
    throw new Error(message);
  }
  return data;
}
