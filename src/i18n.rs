//! The app's own words in the languages its tours are translated into: buttons, the model card,
//! the help, the hover card's headings, the map of the model and the labels in the 3D view.
//!
//! Keyed by the English text, so the code reads as it shows in English and a string without an
//! entry stays English. Tours carry their own texts (`tour::translation`); the command line's
//! output stays English. Pure data: no Bevy, no egui.

/// The languages llmviz speaks, by tag, with their names as their speakers write them.
pub const LANGUAGES: [(&str, &str); 3] = [("en", "English"), ("es", "Español"), ("zh-CN", "简体中文")];

/// The language tags llmviz knows, from a tag as a system or browser gives it: `es_ES.UTF-8`,
/// `es-419`, `zh`, `zh-Hans-CN`, `zh_CN` → `es`, `es`, `zh-CN`, `zh-CN`, `zh-CN`; None for others.
pub fn known_language(tag: &str) -> Option<&'static str> {
    let tag = tag.split(['.', '@']).next().unwrap_or_default().replace('_', "-").to_ascii_lowercase();
    let primary = tag.split('-').next().unwrap_or_default();
    match primary {
        "en" => Some("en"),
        "es" => Some("es"),
        // Traditional Chinese is not Simplified: only the Simplified forms and plain `zh`.
        "zh" if !(tag.contains("hant") || tag.ends_with("-tw") || tag.ends_with("-hk") || tag.ends_with("-mo")) => {
            Some("zh-CN")
        }
        _ => None,
    }
}

/// The system's language where the environment says it (`LC_ALL`, `LC_MESSAGES`, `LANG`, the
/// order POSIX reads them in) and llmviz speaks it.
pub fn system_language() -> Option<&'static str> {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.is_empty())
        .and_then(|value| known_language(&value))
}

/// `text` in `language`: its entry in the table, or `text` itself (English, or not translated).
pub fn tr(language: &str, text: &'static str) -> &'static str {
    let column = match language {
        "es" => 1,
        "zh-CN" => 2,
        _ => return text,
    };
    STRINGS.iter().find(|row| row[0] == text).map_or(text, |row| row[column])
}

/// The command that saves the training checkpoints the app's slider moves through, as its hints
/// name it (the same in every language).
pub const TRAIN_CHECKPOINTS: &str = "llmviz train --checkpoints";

/// English, Spanish, Simplified Chinese. `{}` marks where a number or name goes, in order.
pub const STRINGS: &[[&str; 3]] = &[
    // The side panel.
    ["Chapter {} of {}: {}", "Capítulo {} de {}: {}", "第 {} 章（共 {} 章）：{}"],
    ["Previous chapter", "Capítulo anterior", "上一章"],
    ["Next chapter", "Capítulo siguiente", "下一章"],
    ["Map of the model", "Mapa del modelo", "模型结构图"],
    ["Language", "Idioma", "语言"],
    ["Press Space to start", "Pulsa Espacio para empezar", "按空格键开始"],
    ["Press Space to continue", "Pulsa Espacio para continuar", "按空格键继续"],
    [
        "End of the chapter: Space opens the next one.",
        "Fin del capítulo: Espacio abre el siguiente.",
        "本章结束：按空格键进入下一章。",
    ],
    ["pause", "pausa", "暂停"],
    ["Pause here", "Pausar aquí", "在此暂停"],
    ["▶ play", "▶ reproducir", "▶ 播放"],
    ["Play this step from its start", "Reproducir este paso desde el principio", "从头播放这一步"],
    ["go to", "ir", "跳到"],
    ["Go to where this step's animation starts", "Ir adonde empieza la animación de este paso", "跳到这一步动画的开头"],
    ["Drag to scrub the chapter", "Arrastra para recorrer el capítulo", "拖动以浏览本章"],
    ["Continue (Space): finish", "Continuar (Espacio): terminar", "继续（空格）：完成"],
    ["Continue (Space)", "Continuar (Espacio)", "继续（空格）"],
    ["Skip", "Saltar", "跳过"],
    ["Jump to the next pause", "Saltar a la siguiente pausa", "跳到下一个停顿"],
    ["Backspace: back", "Retroceso: atrás", "退格键：返回"],
    ["speed", "velocidad", "速度"],
    [
        "The tour file does not load; still showing the last good version:",
        "El archivo del recorrido no carga; se sigue mostrando la última versión válida:",
        "导览文件无法加载；仍显示上一个有效版本：",
    ],
    // The map of the model.
    ["Token embed", "Embedding de token", "词元嵌入"],
    ["Position embed", "Embedding de posición", "位置嵌入"],
    ["Layer norm", "Normalización de capa", "层归一化"],
    ["Multi-head causal self-attention", "Autoatención causal multicabeza", "多头因果自注意力"],
    ["Projection", "Proyección", "投影"],
    ["Feed forward (MLP)", "Red prealimentada (MLP)", "前馈网络（MLP）"],
    ["RoPE (in attention)", "RoPE (en la atención)", "RoPE（在注意力中）"],
    ["RMS norm", "Normalización RMS", "RMS 归一化"],
    ["Feed forward (SwiGLU)", "Red prealimentada (SwiGLU)", "前馈网络（SwiGLU）"],
    ["Grouped-query causal self-attention", "Autoatención causal con consultas agrupadas", "分组查询因果自注意力"],
    ["Linear", "Lineal", "线性层"],
    ["Softmax", "Softmax", "Softmax"],
    ["Transformer block × {}", "Bloque transformer × {}", "Transformer 块 × {}"],
    // Section labels in the 3D view.
    ["Embedding", "Embedding", "嵌入"],
    ["Self-attention", "Autoatención", "自注意力"],
    ["MLP", "MLP", "MLP"],
    ["Output", "Salida", "输出"],
    ["Transformer {}", "Transformer {}", "Transformer {}"],
    ["Head {}", "Cabeza {}", "注意力头 {}"],
    // The model card and the model bar.
    ["{} parameters", "{} parámetros", "{} 个参数"],
    ["{} layers, {} heads, C = {}, T = {}", "{} capas, {} cabezas, C = {}, T = {}", "{} 层，{} 个头，C = {}，T = {}"],
    ["{} k/v heads, head size {}", "{} cabezas k/v, tamaño de cabeza {}", "{} 个 k/v 头，头大小 {}"],
    ["KV cache at {} tokens: {}", "caché KV con {} tokens: {}", "{} 个词元的 KV 缓存：{}"],
    ["prefill: 1 position computed", "prellenado: 1 posición calculada", "预填充：计算 1 个位置"],
    ["computed on the CPU", "calculado en la CPU", "在 CPU 上计算"],
    // Gradient mode (render::overlay::gradients).
    [
        "gradients: one training step on this input",
        "gradientes: un paso de entrenamiento con esta entrada",
        "梯度：用这个输入做一步训练",
    ],
    [
        "colour: ∂loss/∂cell, orange where the loss rises with the cell, black where it falls, grey at 0; each block at full colour at 2.5 × the RMS of its gradients",
        "color: ∂pérdida/∂celda, naranja donde la pérdida sube con la celda, negro donde baja, gris en 0; cada bloque a todo color a 2,5 × la RMS de sus gradientes",
        "颜色：∂损失/∂单元，损失随该单元增大处为橙色，减小处为黑色，0 为灰色；每个块在其梯度均方根的 2.5 倍处为全色",
    ],
    [
        "AdamW's moments start at zero: training starts here, or none were saved with these weights",
        "Los momentos de AdamW empiezan en cero: el entrenamiento empieza aquí, o estos pesos se guardaron sin ellos",
        "AdamW 的矩从零开始：训练从这里开始，或这些权重保存时没有附带它们",
    ],
    ["take the step", "dar el paso", "执行这一步"],
    // Gradient mode's chain rules (explain::backward).
    ["softmax with cross-entropy", "softmax con entropía cruzada", "softmax 与交叉熵"],
    ["matrix multiply, back to its input", "multiplicación de matrices, hacia su entrada", "矩阵乘法，回到其输入"],
    ["matrix multiply, back to its weight", "multiplicación de matrices, hacia su peso", "矩阵乘法，回到其权重"],
    ["bias", "sesgo", "偏置"],
    [
        "residual add: the branch's output joins the stream",
        "suma residual: la salida de la rama se une al flujo",
        "残差相加：分支的输出汇入残差流",
    ],
    [
        "residual stream: straight back, plus through the layer norm",
        "flujo residual: directo hacia atrás, más a través de la normalización",
        "残差流：直接回传，再加上经过层归一化的部分",
    ],
    ["layer norm, back to its input", "normalización de capa, hacia su entrada", "层归一化，回到其输入"],
    ["layer norm, back to its scale γ", "normalización de capa, hacia su escala γ", "层归一化，回到其缩放 γ"],
    ["layer norm, back to its shift β", "normalización de capa, hacia su desplazamiento β", "层归一化，回到其偏移 β"],
    [
        "attention score q·k / √A, back to q or k",
        "puntuación de atención q·k / √A, hacia q o k",
        "注意力分数 q·k / √A，回到 q 或 k",
    ],
    ["weighted sum of V, back to v", "suma ponderada de V, hacia v", "V 的加权和，回到 v"],
    [
        "weighted sum of V, back to the weights",
        "suma ponderada de V, hacia los pesos de atención",
        "V 的加权和，回到注意力权重",
    ],
    ["softmax, back to the scores", "softmax, hacia las puntuaciones", "softmax，回到分数"],
    ["GELU, back to its input", "GELU, hacia su entrada", "GELU，回到其输入"],
    [
        "embedding lookup, back to the table (a scatter-add)",
        "búsqueda de embedding, hacia la tabla (una suma dispersa)",
        "嵌入查表，回到表中（分散相加）",
    ],
    ["position embedding, back to the table", "embedding de posición, hacia la tabla", "位置嵌入，回到表中"],
    ["steps taken here: {}", "pasos dados aquí: {}", "在此已执行的步数：{}"],
    [
        "loss {}: mean cross-entropy of {} predictions",
        "pérdida {}: entropía cruzada media de {} predicciones",
        "损失 {}：{} 个预测的平均交叉熵",
    ],
    [
        "gradients of the loss: every weight's and every activation's",
        "gradientes de la pérdida: los de cada peso y cada activación",
        "损失的梯度：每个权重和每个激活的梯度",
    ],
    ["computed on the GPU: {}", "calculado en la GPU: {}", "在 GPU 上计算：{}"],
    [
        "prefill: {} positions computed at once",
        "prellenado: {} posiciones calculadas a la vez",
        "预填充：一次计算 {} 个位置",
    ],
    [
        "decode: {} new position computed, {} read from the KV cache",
        "decodificación: {} posición nueva calculada, {} leídas de la caché KV",
        "解码：计算 {} 个新位置，{} 个从 KV 缓存读取",
    ],
    [
        "decode: {} new positions computed, {} read from the KV cache",
        "decodificación: {} posiciones nuevas calculadas, {} leídas de la caché KV",
        "解码：计算 {} 个新位置，{} 个从 KV 缓存读取",
    ],
    [
        "Alt-click a head, an MLP or one of its neurons to switch it off",
        "Alt + clic en una cabeza, un MLP o una de sus neuronas la apaga",
        "按住 Alt 点击一个头、一个 MLP 或其中一个神经元即可关闭它",
    ],
    ["switched off: {}", "apagado: {}", "已关闭：{}"],
    ["switch all back on", "volver a encender todo", "全部重新打开"],
    ["last position: {} {} → {} ({})", "última posición: {} {} → {} ({})", "最后一个位置：{} {} → {}（{}）"],
    [
        "values: weights and this input's activations",
        "valores: pesos y activaciones de esta entrada",
        "数值：权重与此输入的激活值",
    ],
    [
        "structure only: no weights for this preset, no values",
        "solo estructura: este modelo no trae pesos ni valores",
        "仅结构：此预设没有权重，也没有数值",
    ],
    ["running the model…", "ejecutando el modelo…", "正在运行模型…"],
    ["building…", "construyendo…", "正在构建…"],
    ["input", "entrada", "输入"],
    ["text", "texto", "文本"],
    ["random", "aleatoria", "随机"],
    ["six random letters", "seis letras al azar", "六个随机字母"],
    ["most likely", "el más probable", "最可能的"],
    ["temperature", "temperatura", "温度"],
    ["0 keeps every token", "0 conserva todos los tokens", "0 表示保留所有词元"],
    ["sample", "muestrear", "采样"],
    [
        "draw the next token from these probabilities, with this seed",
        "sacar el siguiente token con estas probabilidades y esta semilla",
        "用这些概率和这个种子抽取下一个词元",
    ],
    ["seed {}", "semilla {}", "种子 {}"],
    ["drew {} with seed {}", "salió {} con la semilla {}", "抽到 {}（种子 {}）"],
    ["training", "entrenamiento", "训练"],
    ["step {}: sorts {} of {}", "paso {}: ordena {} de {}", "第 {} 步：排对 {} / {}"],
    // `{}` is the command that writes the checkpoints, `TRAIN_CHECKPOINTS`.
    [
        "the weights as they were after this many training steps ({})",
        "los pesos tal como eran tras este número de pasos de entrenamiento ({})",
        "训练这么多步之后的权重（{}）",
    ],
    [
        "{} has no checkpoints ({} writes them)",
        "{} no tiene puntos de control (los escribe {})",
        "{} 里没有训练过程中保存的权重（由 {} 生成）",
    ],
    ["Controls (H)", "Controles (H)", "操作 (H)"],
    // The help.
    ["Controls", "Controles", "操作"],
    ["right drag", "arrastrar con el botón derecho", "右键拖动"],
    ["left drag", "arrastrar con el botón izquierdo", "左键拖动"],
    ["wheel", "rueda", "滚轮"],
    ["double-click", "doble clic", "双击"],
    ["? or H", "? o H", "? 或 H"],
    ["orbit", "orbitar", "环绕"],
    ["pan", "desplazar", "平移"],
    ["zoom towards the cursor", "acercar hacia el cursor", "向光标处缩放"],
    ["fly forward, left, back, right", "volar adelante, izquierda, atrás, derecha", "向前、左、后、右飞行"],
    ["fly down, up", "volar abajo, arriba", "向下、向上飞行"],
    ["fly faster", "volar más rápido", "加速飞行"],
    ["fly to a block", "volar a un bloque", "飞到一个块"],
    ["back to the overview", "volver a la vista general", "回到总览"],
    ["this help", "esta ayuda", "本帮助"],
    // The hover card.
    ["computed from", "calculado a partir de", "由以下数值算出"],
    ["token", "token", "词元"],
    ["key token", "token clave", "键词元"],
    ["channel", "canal", "通道"],
    ["channel in the head", "canal de la cabeza", "头内通道"],
    ["MLP channel", "canal del MLP", "MLP 通道"],
    ["vocabulary entry", "entrada del vocabulario", "词表条目"],
    ["head", "cabeza", "注意力头"],
    ["q, k or v", "q, k o v", "q、k 或 v"],
    ["output channel", "canal de salida", "输出通道"],
    ["input channel", "canal de entrada", "输入通道"],
    ["layer {}", "capa {}", "第 {} 层"],
    ["head {}", "cabeza {}", "注意力头 {}"],
    ["{} values", "{} valores", "{} 个数"],
    ["{} values (the {} largest lit)", "{} valores (iluminados los {} mayores)", "{} 个数（点亮最大的 {} 个）"],
    ["{}: {} of {}", "{}: {} de {}", "{}：{}，来自 {}"],
    ["unpin (Esc unpins all)", "soltar (Esc las suelta todas)", "取消固定（Esc 全部取消）"],
    // Tooltips and notes elsewhere.
    ["lights its {} blocks", "ilumina sus {} bloques", "点亮它的 {} 个块"],
    ["{}; click: chapter '{}'", "{}; clic: capítulo '{}'", "{}；点击：章节“{}”"],
    ["append the prediction {} and run again", "añadir la predicción {} y ejecutar de nuevo", "追加预测 {} 并重新运行"],
    ["{}: such cells are drawn magenta", "{}: esas celdas se dibujan en magenta", "{}：这些单元格以品红色绘制"],
    [
        "values: {} weights are drawn as the average colours of tiles of cells, not cell by cell:\nall of them would not fit in the GPU's memory. Hover shows each one exactly.",
        "valores: {} pesos se dibujan con el color medio de bloques de celdas, no celda a celda:\nno cabrían todos en la memoria de la GPU. Al pasar el puntero se ve cada uno exacto.",
        "数值：{} 个权重按单元格小块的平均色绘制，不逐个画出：\nGPU 内存放不下全部数值。悬停可查看每个权重的值。",
    ],
    ["masked", "enmascarado", "被遮蔽"],
    ["input token", "token de entrada", "输入词元"],
    ["token embedding + position embedding", "embedding de token + embedding de posición", "词元嵌入 + 位置嵌入"],
    ["token embedding", "embedding de token", "词元嵌入"],
    [
        "RMSNorm statistic of the row: √(mean(x²) + ε)",
        "estadística RMSNorm de la fila: √(media(x²) + ε)",
        "该行的 RMSNorm 统计量：√(mean(x²) + ε)",
    ],
    ["RMSNorm: x / rms · γ", "RMSNorm: x / rms · γ", "RMSNorm：x / rms · γ"],
    [
        "rotary position embedding: a pair of channels turned by t·θ",
        "embedding de posición rotatorio: un par de canales girado t·θ",
        "旋转位置嵌入：一对通道转过 t·θ",
    ],
    ["SwiGLU: silu(gate) · up", "SwiGLU: silu(gate) · up", "SwiGLU：silu(gate) · up"],
    [
        "logit lens: what the model would predict if it stopped here",
        "lente de logits: lo que predeciría el modelo si se detuviera aquí",
        "logit 透镜：模型若在此停下会预测什么",
    ],
    ["matrix multiply: bias + Σ a_i·w_i", "producto de matrices: sesgo + Σ a_i·w_i", "矩阵乘法：偏置 + Σ a_i·w_i"],
    ["residual add: a + b", "suma residual: a + b", "残差相加：a + b"],
    ["layer-norm statistic of the row", "estadística de normalización de la fila", "该行的层归一化统计量"],
    ["layer norm: (x − μ) / σ · γ + β", "normalización de capa: (x − μ) / σ · γ + β", "层归一化：(x − μ) / σ · γ + β"],
    ["attention score: q·k / sqrt(A)", "puntuación de atención: q·k / sqrt(A)", "注意力分数：q·k / sqrt(A)"],
    ["softmax statistic of the row", "estadística del softmax de la fila", "该行的 softmax 统计量"],
    [
        "softmax: exp(x − max) / Σ exp(x − max)",
        "softmax: exp(x − max) / Σ exp(x − max)",
        "softmax：exp(x − max) / Σ exp(x − max)",
    ],
    ["GELU", "GELU", "GELU"],
    ["weighted sum of V: Σ softmax · v", "suma ponderada de V: Σ softmax · v", "V 的加权和：Σ softmax · v"],
    [
        "the heads' outputs side by side (Σ softmax · v of the head)",
        "las salidas de las cabezas una junto a otra (Σ softmax · v de la cabeza)",
        "各注意力头的输出并排（该头的 Σ softmax · v）",
    ],
    ["a learned parameter", "un parámetro aprendido", "一个学习得到的参数"],
];

/// A text known only at run time (a section's name from the layout) in `language`, if the table has it.
pub fn lookup(language: &str, text: &str) -> Option<&'static str> {
    let column = match language {
        "es" => 1,
        "zh-CN" => 2,
        _ => return None,
    };
    STRINGS.iter().find(|row| row[0] == text).map(|row| row[column])
}

/// A section label of the 3D view in `language`: "Transformer 2" and "Head 1" by their pattern,
/// the others as the table has them, else as they are.
pub fn section_label(language: &str, text: &str) -> String {
    for template in ["Transformer {}", "Head {}"] {
        let prefix = template.trim_end_matches("{}");
        if let Some(number) = text.strip_prefix(prefix) {
            return fill(language, template, &[&number]);
        }
    }
    lookup(language, text).map_or_else(|| text.to_string(), str::to_string)
}

/// `template` in `language` with each `{}` replaced by the next of `values`.
pub fn fill(language: &str, template: &'static str, values: &[&dyn std::fmt::Display]) -> String {
    let mut text = String::new();
    let mut values = values.iter();
    let mut pieces = tr(language, template).split("{}").peekable();
    while let Some(piece) = pieces.next() {
        text += piece;
        if pieces.peek().is_some()
            && let Some(value) = values.next()
        {
            text += &value.to_string();
        }
    }
    text
}
